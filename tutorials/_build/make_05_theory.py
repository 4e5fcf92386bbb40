"""Writes tutorials/05_theory.ipynb (run: python tutorials/_build/make_05_theory.py)."""

from pathlib import Path

import nbformat as nbf

cells = []
md = lambda s: cells.append(nbf.v4.new_markdown_cell(s.strip()))
code = lambda s: cells.append(nbf.v4.new_code_cell(s.strip()))

md(r"""
# 05 · Why and when masking helps: the paper's linear-model theory

The R²MAE paper explains mask-based pretraining with **masked ridgeless regression**:

* rows $x_i \sim N(0, \Sigma)$ with a spiked covariance $\Sigma = I + \sum_k \delta_k v_k v_k^\top$,
* a unit-norm target $\beta = \sum_k \alpha_k v_k + \sqrt{1-\sum_k\alpha_k^2}\,u$ ($\alpha_k$: alignment with spike $k$),
  $y = X\beta + \varepsilon$,
* inputs masked entry-wise, $\tilde X = X \odot Z$ with $Z_{ij} \sim \mathrm{Bernoulli}(1-p_i)$ — a fixed $p$, or
  $p_i \sim U(a, b)$ per sample (R²MAE),
* the minimum-norm least-squares fit on $\tilde X$, and its test risk $(\hat\beta-\beta)^\top\Sigma(\hat\beta-\beta)$ on
  unmasked inputs. $\gamma = d/n$; $\gamma > 1$ is the overparameterised regime.

`bioR2.theory` computes that risk by simulation (paired seeds, exact over the test point and the label noise)
and in closed form (the derivations are in the docstring of `bioR2.theory.asymptotics`).
""")
code(r"""
import numpy as np
import matplotlib.pyplot as plt
from bioR2.theory import LinearProblem, simulate, spiked_risk, isotropic_risk, optimal_p, risk_curve, effective_ratio
""")
md(r"""
## 1 · Isotropic Σ: masking turns signal into noise

With $\Sigma = I$ a masked row still looks like a Gaussian row of variance $1-p$, and the masked-out signal
becomes noise of variance $p\|\beta\|^2$: with $s^2 = \sigma^2 + p\|\beta\|^2$ the risk is
$\|\beta\|^2(1-1/\gamma) + s^2/((1-p)(\gamma-1))$ for $\gamma > 1$. It only grows with $p$.
""")
code(r"""
problem = LinearProblem(d=200, gamma=2.0, sigma=0.5)
sim = simulate(problem, [0.0, 0.3, 0.5], seeds=6)
for p, res in sim.items():
    s = res.summary()
    print(f"p={p}: simulated {s['risk']:.3f} ± {s['se']:.3f}   closed form {isotropic_risk(2.0, float(p), 0.5)['risk']:.3f}")
""")
md(r"""
## 2 · A spiked Σ: masking helps, but only when the model is overparameterised

One strong spike ($\delta = 20$) that the target is aligned with ($\alpha = 0.9$), no label noise. The closed
form (a deterministic equivalent for the masked design, lines) against simulation (dots, ±2 se).
""")
code(r"""
ps = np.linspace(0, 0.4, 81)
sim_ps = [0.0, 0.05, 0.1, 0.15, 0.2, 0.3]
fig, ax = plt.subplots(figsize=(5, 3.5))
for i, gamma in enumerate([0.5, 2.0, 4.0, 8.0]):
    prob = LinearProblem.from_spikes(d=200, gamma=gamma, sigma=0.0, spikes=[(20.0, 0.9)])
    ax.plot(ps, risk_curve(prob, ps)["risk"], color=f"C{i}", label=f"γ = {gamma:g}")
    res = simulate(prob, sim_ps, seeds=4)
    s = [res[f"{p:g}"].summary() for p in sim_ps]
    ax.errorbar(sim_ps, [x["risk"] for x in s], yerr=[2 * x["se"] for x in s], fmt="o", color=f"C{i}", ms=3)
    print(f"γ={gamma:g}: p* = {optimal_p(prob).p_star:.3f}")
ax.set_ylim(0, 2); ax.set_xlabel("masking ratio p"); ax.set_ylabel("test risk"); ax.legend(frameon=False)
""")
md(r"""
For $\gamma < 1$ the unmasked fit recovers $\beta$ exactly and any masking hurts; at $\gamma = 2$ the risk is
flat and then rises; at $\gamma = 4$ and $8$ it first **descends**: masking helps, and more so for larger $\gamma$.

## 3 · Through the bias term

`bias` is everything not proportional to $\sigma^2$ (including the masked-out signal acting as noise),
`variance` the label-noise part. At $p^*$ the bias falls and the variance rises.
""")
code(r"""
prob = LinearProblem.from_spikes(d=400, gamma=8.0, sigma=0.5, spikes=[(20.0, 0.9)])
o = optimal_p(prob)
print(f"p* = {o.p_star:.3f}")
print(f"bias     {o.bias_at_0:.3f} -> {o.bias:.3f}")
print(f"variance {o.variance_at_0:.3f} -> {o.variance:.3f}")
""")
md(r"""
## 4 · The optimal ratio grows with alignment and with model size

The linear-model version of "larger models prefer higher masking ratios".
""")
code(r"""
gammas = [2, 4, 8, 16]
print("alpha " + "".join(f"  γ={g:<5}" for g in gammas))
for alpha in [0.5, 0.9, 1.0]:
    row = [optimal_p(LinearProblem.from_spikes(400, g, 0.0, [(20.0, alpha)])).p_star for g in gammas]
    print(f"{alpha:5.2f} " + "".join(f"  {p:7.3f}" for p in row))
""")
md(r"""
## 5 · R²MAE in the linear model

Per-sample ratios $p_i \sim U(a,b)$ come from the same sampler every bioR2 pretraining uses
(`bioR2.masking.parse_mask_ratio`). Two facts (derived in `bioR2.theory.asymptotics`):

* with infinitely many re-masked copies, a range is *exactly* the fixed ratio $p_\mathrm{eff} = 1 - E[q^2]/E[q]$, $q = 1-p$;
* with one mask per sample it behaves like $p_\mathrm{eff}$ plus extra noise.

So in this model a range should not beat the best fixed ratio. The benchmark (`bior2 benchmark theory`) searches
many settings for a counter-example; here is the basic comparison, paired by seed.
""")
code(r"""
prob = LinearProblem.from_spikes(d=200, gamma=4.0, sigma=0.0, spikes=[(20.0, 0.9)])
settings = [0.125, "0.1-0.15", "0.05-0.2", "0-0.3"]
res = simulate(prob, settings, seeds=8)
best = res["0.125"].risk[:, 0]
for key, r in res.items():
    diff = r.risk[:, 0] - best
    peff = effective_ratio(key)
    print(f"{key:>9}  p_eff={peff:.3f}  risk {r.risk.mean():.4f}   minus fixed 0.125: {diff.mean():+.4f} ± {diff.std(ddof=1)/np.sqrt(diff.size):.4f}")
""")
md(r"""
## 6 · The same from the command line

```bash
bior2 theory risk --gamma 2 --p 0.3 --sigma 0.5 --method closed-form --json
bior2 theory risk --gamma 4 --p-range 0.05-0.3 --spike 20:0.9 --method simulate --seeds 20 --json
bior2 theory optimal-p --gamma 4 --spike 20:0.9 --sigma 0 --json
bior2 theory plot --gamma 0.5 2 4 8 --spike 20:0.9 --out risk.png --simulate
bior2 benchmark theory --out runs/theory     # every figure and table, a few minutes on 2 cores
```
""")

nb = nbf.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                               "language": "python"}})
out = Path(__file__).resolve().parents[1] / "05_theory.ipynb"
nbf.write(nb, out)
print(out)
