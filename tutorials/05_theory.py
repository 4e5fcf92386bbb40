# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Why and when masking helps: the paper's linear-model theory
#
# The R²MAE paper explains mask-based pretraining with **masked ridgeless regression**:
#
# * rows $x_i \sim N(0, \Sigma)$ with a spiked covariance $\Sigma = I + \sum_k \delta_k v_k v_k^\top$,
# * a unit-norm target $\beta = \sum_k \alpha_k v_k + \sqrt{1-\sum_k\alpha_k^2}\,u$ ($\alpha_k$: alignment with
#   spike $k$), $y = X\beta + \varepsilon$,
# * inputs masked entry-wise, $\tilde X = X \odot Z$ with $Z_{ij} \sim \mathrm{Bernoulli}(1-p_i)$ — a fixed $p$, or
#   $p_i \sim U(a, b)$ per sample (R²MAE),
# * the minimum-norm least-squares fit on $\tilde X$, and its test risk
#   $(\hat\beta-\beta)^\top\Sigma(\hat\beta-\beta)$ on unmasked inputs. $\gamma = d/n$; $\gamma > 1$ is the
#   overparameterised regime.
#
# `bioR2.theory` computes that risk by simulation (paired seeds, exact over the test point and the label noise)
# and in closed form (the derivations are in the docstring of `bioR2.theory.asymptotics`).

# %%
import numpy as np
import matplotlib.pyplot as plt
from bioR2.theory import LinearProblem, simulate, isotropic_risk, optimal_p, risk_curve, effective_ratio

# %% [markdown]
# ## 1 · Isotropic Σ: masking turns signal into noise
#
# With $\Sigma = I$ a masked row still looks like a Gaussian row of variance $1-p$, and the masked-out signal
# becomes noise of variance $p\|\beta\|^2$: with $s^2 = \sigma^2 + p\|\beta\|^2$ the risk is
# $\|\beta\|^2(1-1/\gamma) + s^2/((1-p)(\gamma-1))$ for $\gamma > 1$. It only grows with $p$.

# %%
problem = LinearProblem(d=200, gamma=2.0, sigma=0.5)
sim = simulate(problem, [0.0, 0.3, 0.5], seeds=40)
for p, res in sim.items():
    s = res.summary()
    closed = isotropic_risk(2.0, float(p), 0.5)["risk"]
    print(f"p={p}: simulated {s['risk']:.3f} ± {s['se']:.3f}   closed form {closed:.3f}")

# %% [markdown]
# Simulated means ± one standard error over 40 seeds; the closed form is the $n, d \to \infty$ limit, so a
# few percent of difference at $d = 200$ is expected (section 2b measures it).
#
# ## 2 · A spiked Σ: masking helps, but only when the model is overparameterised
#
# One strong spike ($\delta = 20$) that the target is aligned with ($\alpha = 0.9$), no label noise. The closed
# form (a deterministic equivalent for the masked design, lines) against simulation (dots, ±2 se over 100
# seeds).

# %%
ps = np.linspace(0, 0.4, 81)
sim_ps = [0.0, 0.05, 0.1, 0.15, 0.2, 0.3]
fig, ax = plt.subplots(figsize=(6.5, 3.5))
for i, gamma in enumerate([0.5, 2.0, 4.0, 8.0]):
    prob = LinearProblem.from_spikes(d=200, gamma=gamma, sigma=0.0, spikes=[(20.0, 0.9)])
    ax.plot(ps, risk_curve(prob, ps)["risk"], color=f"C{i}", label=f"γ = {gamma:g} (n = {prob.n})")
    res = simulate(prob, sim_ps, seeds=100)
    s = [res[f"{p:g}"].summary() for p in sim_ps]
    ax.errorbar(sim_ps, [x["risk"] for x in s], yerr=[2 * x["se"] for x in s], fmt="o", color=f"C{i}", ms=3)
    print(f"γ={gamma:g}: p* = {optimal_p(prob).p_star:.3f}")
ax.set_ylim(0, 2); ax.set_xlabel("masking ratio p"); ax.set_ylabel("test risk")
ax.legend(frameon=False, loc="center left", bbox_to_anchor=(1, 0.5))
fig.tight_layout();

# %% [markdown]
# For $\gamma < 1$ the unmasked fit recovers $\beta$ exactly and any masking hurts; at $\gamma = 2$ the risk is
# flat and then rises; at $\gamma = 4$ and $8$ it first **descends**: masking helps, and more so for larger
# $\gamma$. $p^*$ is the minimiser of the closed form.
#
# ## 2b · γ = 8: why its simulation needs many seeds, and the closed form's finite-size gap
#
# With 4 seeds per point (this notebook's earlier version) the γ = 8 simulation at $p = 0$ came out at ≈ 1.22
# against a closed form of ≈ 1.46, far outside its error bar. Two things were going on, both because γ = 8 at
# $d = 200$ leaves only $n = 25$ training rows:
#
# 1. **The per-seed risk is very variable and skewed.** How well a min-norm fit on 25 rows finds the spike
#    changes a lot from one draw of the data to the next. Seeds 0–3 happened to fall below the median, and a
#    standard error computed from those same 4 values understated how uncertain their mean was.
# 2. **The closed form is a large-$n$ limit.** At $n = 25$ the simulation's *true* mean sits a few percent
#    above it, and the gap closes as $d$ (and so $n$) grows at fixed γ.
#
# The evidence, at γ = 8 (a few seconds):

# %%
prob8 = LinearProblem.from_spikes(d=200, gamma=8.0, sigma=0.0, spikes=[(20.0, 0.9)])
closed8 = risk_curve(prob8, [0.0])["risk"][0]
per_seed = simulate(prob8, [0.0], seeds=2000)["0"].risk[:, 0]
first4 = per_seed[:4]
below = np.mean(per_seed < first4.max())
print(f"closed form   {closed8:.3f}")
print(f"seeds 0-3     {first4.mean():.3f} ± {first4.std(ddof=1) / 2:.3f} (se from these 4 values); "
      f"each: {np.round(first4, 2)}")
print(f"2,000 seeds   {per_seed.mean():.3f} ± {per_seed.std(ddof=1) / np.sqrt(per_seed.size):.3f}; "
      f"per-seed sd {per_seed.std(ddof=1):.2f}, median {np.median(per_seed):.2f}, "
      f"10-90% of seeds in {np.quantile(per_seed, 0.1):.2f}-{np.quantile(per_seed, 0.9):.2f}")
print(f"{below:.0%} of seeds fall below {first4.max():.2f}, the largest of seeds 0-3: "
      f"4 of 4 below it happens {below ** 4:.0%} of the time")

# %%
fig, ax = plt.subplots(figsize=(5, 3))
ax.hist(per_seed, bins=60, color="C3", alpha=0.6, label="per-seed risk (2,000 seeds)")
ax.axvline(closed8, color="k", lw=1.5, label=f"closed form {closed8:.2f}")
ax.axvline(per_seed.mean(), color="C3", lw=1.5, ls="--", label=f"mean of 2,000 seeds {per_seed.mean():.2f}")
ax.axvline(first4.mean(), color="C0", lw=1.5, ls=":", label=f"mean of seeds 0-3 {first4.mean():.2f}")
ax.set_xlabel("test risk at p = 0 (γ = 8, d = 200, n = 25)"); ax.set_yticks([])
ax.legend(frameon=False, fontsize=8);

# %% [markdown]
# The finite-size gap: the same problem at γ = 8 with $d$ = 200, 800 and 3,200 ($n$ = 25, 100, 400), at
# $p = 0$ and $p = 0.3$.

# %%
import pandas as pd

rows = []
for d, seeds in [(200, 400), (800, 100), (3200, 25)]:
    pr = LinearProblem.from_spikes(d=d, gamma=8.0, sigma=0.0, spikes=[(20.0, 0.9)])
    res = simulate(pr, [0.0, 0.3], seeds=seeds)
    for p, closed in zip(["0", "0.3"], risk_curve(pr, [0.0, 0.3])["risk"]):
        r = res[p].risk[:, 0]
        rows.append({"d": d, "n": pr.n, "p": p, "seeds": seeds, "simulated": round(r.mean(), 3),
                     "± se": round(r.std(ddof=1) / np.sqrt(r.size), 3), "per-seed sd": round(r.std(ddof=1), 3),
                     "closed form": round(closed, 3), "gap": f"{r.mean() / closed - 1:+.1%}"})
pd.DataFrame(rows).set_index(["d", "n", "p"])

# %% [markdown]
# The histogram is wide with a long right tail, so four draws cannot place its mean; the figure of section 2
# now uses 100 seeds per point, and its γ = 8 dots sit slightly *above* the curve instead of far below it. That
# remaining gap is the finite-size effect in the table: at $p = 0$ it shrinks from several percent at
# $d = 200$ to about 2 % at $d = 3200$, while the per-seed spread falls roughly like $1/\sqrt{n}$. With masking
# ($p = 0.3$) the gap at $d = 200$ is larger, because there the closed form also treats the masked rows as
# Gaussian and the diagonal of Σ as constant, both exact only as $d \to \infty$; it shrinks with $d$ the same
# way. So the closed form is the reference for the *shape* of the curves and for $p^*$; to compare numbers at
# a finite size, simulate that size with enough seeds.
#
# %% [markdown]
# ## 3 · Through the bias term
#
# `bias` is everything not proportional to $\sigma^2$ (including the masked-out signal acting as noise),
# `variance` the label-noise part. At $p^*$ the bias falls and the variance rises.

# %%
prob = LinearProblem.from_spikes(d=400, gamma=8.0, sigma=0.5, spikes=[(20.0, 0.9)])
o = optimal_p(prob)
print(f"p* = {o.p_star:.3f}")
print(f"bias     {o.bias_at_0:.3f} -> {o.bias:.3f}")
print(f"variance {o.variance_at_0:.3f} -> {o.variance:.3f}")

# %% [markdown]
# ## 4 · The optimal ratio grows with alignment and with model size
#
# The linear-model version of "larger models prefer higher masking ratios".

# %%
gammas = [2, 4, 8, 16]
print("alpha " + "".join(f"  γ={g:<5}" for g in gammas))
for alpha in [0.5, 0.9, 1.0]:
    row = [optimal_p(LinearProblem.from_spikes(400, g, 0.0, [(20.0, alpha)])).p_star for g in gammas]
    print(f"{alpha:5.2f} " + "".join(f"  {p:7.3f}" for p in row))

# %% [markdown]
# ## 5 · R²MAE in the linear model
#
# Per-sample ratios $p_i \sim U(a,b)$ come from the same sampler every bioR2 pretraining uses
# (`bioR2.masking.parse_mask_ratio`). Two facts (derived in `bioR2.theory.asymptotics`):
#
# * with infinitely many re-masked copies, a range is *exactly* the fixed ratio
#   $p_\mathrm{eff} = 1 - E[q^2]/E[q]$, $q = 1-p$;
# * with one mask per sample it behaves like $p_\mathrm{eff}$ plus extra noise.
#
# So in this model a range should not beat the best fixed ratio. The benchmark (`bior2 benchmark theory`) searches
# many settings for a counter-example; here is the basic comparison, paired by seed.

# %%
prob = LinearProblem.from_spikes(d=200, gamma=4.0, sigma=0.0, spikes=[(20.0, 0.9)])
settings = [0.125, "0.1-0.15", "0.05-0.2", "0-0.3"]
res = simulate(prob, settings, seeds=100)
best = res["0.125"].risk[:, 0]
for key, r in res.items():
    diff = r.risk[:, 0] - best
    peff = effective_ratio(key)
    se = diff.std(ddof=1) / np.sqrt(diff.size)
    print(f"{key:>9}  p_eff={peff:.3f}  risk {r.risk.mean():.4f}   minus fixed 0.125: {diff.mean():+.4f} ± {se:.4f}")

# %% [markdown]
# Every range here has (nearly) the same $p_\mathrm{eff}$ as the fixed 0.125, and every one is worse than it
# (the paired differences are positive, two or more standard errors from 0): the extra noise of one random ratio
# per sample, which grows with the width of the range. In the linear model R²MAE's benefit is not a lower risk
# at the best ratio; what it offers is not having to know that ratio — the deep-model benchmarks measure
# whether that holds there (and `03_single_cell` shows the reconstruction side of it).

# %% [markdown]
# ## 6 · The same from the command line
#
# ```bash
# bior2 theory risk --gamma 2 --p 0.3 --sigma 0.5 --method closed-form --json
# bior2 theory risk --gamma 4 --p-range 0.05-0.3 --spike 20:0.9 --method simulate --seeds 20 --json
# bior2 theory optimal-p --gamma 4 --spike 20:0.9 --sigma 0 --json
# bior2 theory plot --gamma 0.5 2 4 8 --spike 20:0.9 --out risk.png --simulate
# bior2 benchmark theory --out runs/theory     # every figure and table, a few minutes on 2 cores
# ```
