"""Token, patch and expression maskers: statistics, invariants, determinism, edge cases."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch

from bioR2.masking import (
    IGNORE_INDEX,
    MaskRNG,
    keep_patches,
    mask_expression,
    mask_patches,
    mask_tokens,
    masked_count,
    num_kept,
    restore_patches,
    select_positions,
)
from bioR2.masking.noise import _mix32, _mix32_i32_, _mix32_int, _to_i32

PAD, MASK, CLS = 0, 1, 2
VOCAB = 12


def _tokens(batch=64, length=128, seed=0, pad_tail=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, VOCAB, (batch, length), generator=g)
    ids[:, 0] = CLS
    if pad_tail:
        ids[:, -pad_tail:] = PAD
    return ids


def _rng(batch, seed=0, step=0):
    return MaskRNG(seed, step, torch.arange(batch))


def test_hash_matches_python_reference():
    xs = [0, 1, 2, 12345, 2**31 - 1, 2**31, 2**32 - 1, 0xDEADBEEF]
    xs += torch.randint(0, 2**32, (2000,), generator=torch.Generator().manual_seed(0)).tolist()
    expected = [_mix32_int(x) for x in xs]
    assert _mix32(torch.tensor(xs, dtype=torch.int64)).tolist() == expected
    as_i32 = _mix32_i32_(_to_i32(torch.tensor(xs, dtype=torch.int64)))
    assert [v & 0xFFFFFFFF for v in as_i32.tolist()] == expected


def test_dense_and_sparse_noise_agree():
    rng = MaskRNG(3, 7, torch.tensor([5, 900, 2**33 + 1]))
    dense = rng.uniform((50,), "s")
    rows = torch.tensor([0, 0, 1, 2, 2])
    cols = torch.tensor([0, 49, 7, 3, 30])
    assert torch.equal(rng.uniform_at(rows, cols, "s"), dense[rows, cols])
    assert 0.0 <= dense.min() and dense.max() < 1.0
    # roughly uniform: mean and variance of U(0, 1) within 5 standard errors
    big = MaskRNG(0, 0, torch.arange(200)).uniform((500,), "t").flatten()
    n = big.numel()
    assert abs(big.mean().item() - 0.5) < 5 * (1 / 12 / n) ** 0.5
    assert abs(big.var().item() - 1 / 12) < 0.002


@pytest.mark.parametrize("count", ["exact", "bernoulli"])
def test_sparse_and_dense_selection_paths_agree(count):
    # few eligible entries -> sparse path; the same entries inside a dense eligibility -> dense path
    g = torch.Generator().manual_seed(1)
    sparse_elig = torch.rand(64, 300, generator=g) < 0.1
    rng = MaskRNG(0, 3, torch.arange(64))
    sparse = select_positions(sparse_elig, 0.3, rng, "x", count=count)
    assert not (sparse & ~sparse_elig).any()
    # force the dense path on the same problem by padding with many eligible columns
    wide = torch.cat([sparse_elig, torch.ones(64, 2000, dtype=torch.bool)], dim=1)
    restricted = select_positions(wide, 0.3, rng, "x", count=count)
    if count == "bernoulli":  # per-entry decisions only depend on the entry's own noise
        assert torch.equal(restricted[:, :300] & sparse_elig, sparse)
    k = masked_count(sparse_elig.sum(1), 0.3)
    if count == "exact":
        assert torch.equal(sparse.sum(1), k)


@pytest.mark.parametrize("p", [0.05, 0.15, 0.3, 0.5])
def test_exact_count_masks_round_p_times_eligible_in_every_row(p):
    ids = _tokens(pad_tail=20)
    out = mask_tokens(ids, p, mask_token_id=MASK, special_ids=[PAD, CLS], vocab_size=VOCAB, rng=_rng(64))
    n_eligible = 128 - 1 - 20
    expected = max(1, math.floor(p * n_eligible + 0.5))
    assert out.mask.sum(dim=1).tolist() == [expected] * 64
    # exact per row means |realised - p| <= 1/(2 n) (rounding) unless the min-one floor applies
    assert abs(expected / n_eligible - p) <= 0.5 / n_eligible + 1e-12


@pytest.mark.parametrize("p", [0.05, 0.15, 0.4])
def test_bernoulli_fraction_matches_p_within_binomial_tolerance(p):
    ids = _tokens(batch=256, length=256)
    out = mask_tokens(ids, p, mask_token_id=MASK, special_ids=[CLS], vocab_size=VOCAB,
                      count="bernoulli", rng=_rng(256, seed=1))
    n = 256 * 255
    frac = out.mask.sum().item() / n
    # 5 standard errors of a binomial proportion (+ the tiny upward bias of min-one)
    assert abs(frac - p) < 5 * math.sqrt(p * (1 - p) / n) + 256 * (1 - p) ** 255 / n
    # and the per-row counts vary (it really is Bernoulli, not exact)
    assert out.mask.sum(dim=1).unique().numel() > 1


def test_special_and_padding_tokens_are_never_masked():
    ids = _tokens(pad_tail=30)
    for p in (0.15, 0.5, 0.9):
        out = mask_tokens(ids, p, mask_token_id=MASK, special_ids=[PAD, CLS], vocab_size=VOCAB,
                          count="bernoulli", rng=_rng(64, step=int(p * 10)))
        special = (ids == PAD) | (ids == CLS)
        assert not (out.mask & special).any()
        assert torch.equal(out.input_ids[special], ids[special])
        assert (out.labels[special] == IGNORE_INDEX).all()


def test_eligible_mask_restricts_selection():
    ids = _tokens()
    eligible = torch.zeros_like(ids, dtype=torch.bool)
    eligible[:, 10:20] = True
    out = mask_tokens(ids, 0.5, mask_token_id=MASK, eligible=eligible, vocab_size=VOCAB, rng=_rng(64))
    assert not out.mask[:, :10].any() and not out.mask[:, 20:].any()
    assert (out.mask.sum(1) == 5).all()


@pytest.mark.parametrize("count", ["exact", "bernoulli"])
def test_at_least_one_masked_position_even_at_tiny_ratio(count):
    ids = _tokens(batch=128, length=8)
    out = mask_tokens(ids, 0.01, mask_token_id=MASK, special_ids=[CLS], vocab_size=VOCAB,
                      count=count, rng=_rng(128))
    assert (out.mask.sum(dim=1) >= 1).all()
    assert ((out.labels != IGNORE_INDEX).sum(dim=1) >= 1).all()


def test_rows_with_nothing_eligible_stay_unmasked():
    ids = torch.full((3, 5), PAD)
    out = mask_tokens(ids, 0.5, mask_token_id=MASK, special_ids=[PAD], vocab_size=VOCAB, rng=_rng(3))
    assert not out.mask.any()


def test_80_10_10_replacement_proportions():
    ids = _tokens(batch=256, length=256)
    out = mask_tokens(ids, 0.3, mask_token_id=MASK, special_ids=[PAD, CLS], vocab_size=VOCAB, rng=_rng(256, 4))
    m = out.mask
    n = m.sum().item()
    to_mask = ((out.input_ids == MASK) & m).sum().item() / n
    changed = ((out.input_ids != MASK) & (out.input_ids != ids) & m).sum().item() / n
    kept = ((out.input_ids == ids) & m).sum().item() / n
    tol = 5 * math.sqrt(0.25 / n)
    assert abs(to_mask - 0.8) < tol
    n_cand = VOCAB - 3  # random tokens exclude PAD, MASK, CLS
    # random replacement can draw the original token (1/n_cand of the time): it then reads as kept
    assert abs(changed - 0.1 * (1 - 1 / n_cand)) < tol
    assert abs(kept - (0.1 + 0.1 / n_cand)) < tol
    # random tokens never introduce special ids
    assert not torch.isin(out.input_ids[m & (out.input_ids != MASK)], torch.tensor([PAD, CLS])).any()
    # labels hold the original ids exactly where masked
    assert torch.equal(out.labels[m], ids[m])
    assert (out.labels[~m] == IGNORE_INDEX).all()


def test_all_mask_token_replacement():
    ids = _tokens()
    out = mask_tokens(ids, 0.2, mask_token_id=MASK, special_ids=[CLS], mask_prob=1.0, random_prob=0.0, rng=_rng(64))
    assert (out.input_ids[out.mask] == MASK).all()
    assert torch.equal(out.input_ids[~out.mask], ids[~out.mask])


def test_random_tokens_from_given_set():
    ids = _tokens()
    out = mask_tokens(ids, 0.5, mask_token_id=MASK, special_ids=[CLS], random_token_ids=[5, 6],
                      mask_prob=0.0, random_prob=1.0, rng=_rng(64))
    assert set(out.input_ids[out.mask].unique().tolist()) <= {5, 6}


def test_bad_replacement_probabilities_are_refused():
    with pytest.raises(ValueError, match="mask_prob"):
        mask_tokens(_tokens(), 0.2, mask_token_id=MASK, mask_prob=0.9, random_prob=0.2, vocab_size=VOCAB)


def test_masks_depend_on_example_not_on_batch_layout():
    ids = _tokens(batch=8)
    full = mask_tokens(ids, 0.3, mask_token_id=MASK, vocab_size=VOCAB, rng=MaskRNG(5, 9, torch.arange(8)))
    # the same examples split over two "ranks" in another order
    order = torch.tensor([6, 1, 3, 0])
    part = mask_tokens(ids[order], 0.3, mask_token_id=MASK, vocab_size=VOCAB, rng=MaskRNG(5, 9, order))
    assert torch.equal(part.mask, full.mask[order])
    assert torch.equal(part.input_ids, full.input_ids[order])
    other_step = mask_tokens(ids, 0.3, mask_token_id=MASK, vocab_size=VOCAB, rng=MaskRNG(5, 10, torch.arange(8)))
    assert not torch.equal(other_step.mask, full.mask)


def test_masks_agree_across_processes():
    code = (
        "import torch;from bioR2.masking import MaskRNG, mask_patches;"
        "m=mask_patches(4,16,0.75,rng=MaskRNG(11,3,torch.arange(4)));print(m.ids_keep.tolist())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    here = mask_patches(4, 16, 0.75, rng=MaskRNG(11, 3, torch.arange(4))).ids_keep.tolist()
    assert eval(out.stdout) == here


def test_torch_generator_also_works_and_is_reproducible():
    a = mask_patches(4, 49, 0.75, rng=torch.Generator().manual_seed(0))
    b = mask_patches(4, 49, 0.75, rng=torch.Generator().manual_seed(0))
    assert torch.equal(a.ids_keep, b.ids_keep)


# ---------------------------------------------------------------- patches
@pytest.mark.parametrize("L, p, keep", [(16, 0.75, 4), (49, 0.75, 12), (16, 0.0, 15), (16, 0.99, 1), (2, 0.5, 1)])
def test_len_keep_is_rounded_and_clamped(L, p, keep):
    assert num_kept(L, p) == keep
    pm = mask_patches(3, L, p, rng=_rng(3))
    assert pm.len_keep == keep
    assert 1 <= pm.len_keep <= L - 1


def test_patch_mask_invariants():
    B, L = 8, 49
    pm = mask_patches(B, L, 0.6, rng=_rng(B))
    assert (pm.mask.sum(dim=1) == L - pm.len_keep).all()
    # ids_keep are exactly the unmasked positions
    kept = torch.zeros(B, L, dtype=torch.bool).scatter_(1, pm.ids_keep, True)
    assert torch.equal(kept, ~pm.mask)
    # restore_patches inverts the shuffle: put patch ids through keep + mask-token fill
    x = torch.arange(L, dtype=torch.float32).repeat(B, 1).unsqueeze(-1)
    visible = keep_patches(x, pm.ids_keep)
    assert torch.equal(visible.squeeze(-1), pm.ids_keep.float())
    filler = torch.full((B, L - pm.len_keep, 1), -1.0)
    restored = restore_patches(torch.cat([visible, filler], dim=1), pm.ids_restore)
    assert torch.equal(restored.squeeze(-1)[~pm.mask], x.squeeze(-1)[~pm.mask])
    assert (restored.squeeze(-1)[pm.mask] == -1).all()


def test_patch_realised_fraction_matches_ratio():
    for p in (0.6, 0.75, 0.9):
        pm = mask_patches(4, 196, p, rng=_rng(4))
        assert abs(pm.mask.float().mean().item() - p) <= 0.5 / 196 + 1e-9


def test_single_patch_is_refused():
    with pytest.raises(ValueError, match="at least 2 patches"):
        mask_patches(2, 1, 0.5)


# ---------------------------------------------------------------- expression
def _expr(cells=128, genes=500, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(cells, genes, generator=g)
    return x * (torch.rand(cells, genes, generator=g) < 0.2)


def test_expression_only_nonzero():
    x = _expr()
    out = mask_expression(x, 0.3, only_nonzero=True, rng=_rng(128))
    assert not (out.mask & (x == 0)).any()
    nnz = (x != 0).sum(dim=1)
    assert torch.equal(out.mask.sum(dim=1), masked_count(nnz, 0.3))
    assert (out.x_masked[out.mask] == 0).all()
    assert torch.equal(out.x_masked[~out.mask], x[~out.mask])


def test_expression_all_genes_and_mask_value():
    x = _expr()
    out = mask_expression(x, 0.25, mask_value=-1.0, rng=_rng(128))
    assert (out.mask.sum(1) == 125).all()
    assert (out.x_masked[out.mask] == -1.0).all()
    assert (out.mask & (x == 0)).any()  # zeros can be masked in all-genes mode


def test_expression_bernoulli_fraction():
    x = _expr(cells=512)
    p = 0.4
    out = mask_expression(x, p, count="bernoulli", rng=_rng(512))
    n = x.numel()
    assert abs(out.mask.float().mean().item() - p) < 5 * math.sqrt(p * (1 - p) / n)


def test_select_positions_rejects_unknown_mode_and_bad_shape():
    e = torch.ones(2, 3, dtype=torch.bool)
    with pytest.raises(ValueError):
        select_positions(e, 0.5, None, "s", count="poisson")
    with pytest.raises(ValueError):
        select_positions(torch.ones(3, dtype=torch.bool), 0.5, None, "s")


def test_exact_selection_with_tied_noise_still_counts_exactly(monkeypatch):
    import bioR2.masking.select as select_module

    # noise with only two distinct values: the threshold shortcut over-selects, the repair fixes it
    tied = lambda shape, rng, stream, device: (torch.arange(shape[1]) % 2).float().repeat(shape[0], 1) * 0.5
    monkeypatch.setattr(select_module, "uniform_like", tied)
    e = torch.ones(8, 10, dtype=torch.bool)
    m = select_positions(e, 0.3, None, "s")
    assert (m.sum(1) == 3).all()
    assert not m[:, 1::2].any()  # the chosen ones are among the lowest-noise entries


def test_mask_rng_refuses_mismatched_batch():
    with pytest.raises(ValueError, match="example ids"):
        mask_expression(_expr(cells=4), 0.3, rng=_rng(5))


@pytest.mark.parametrize("mask_value", [0.0, -1.0])
def test_expression_corruption_equals_masked_fill_even_with_non_finite_values(mask_value):
    x = torch.randn(32, 100, generator=torch.Generator().manual_seed(0))
    rng = MaskRNG(seed=1, step=2, example_ids=torch.arange(32))
    out = mask_expression(x, 0.4, rng=rng, mask_value=mask_value)
    assert torch.equal(out.x_masked, x.masked_fill(out.mask, mask_value))
    x[0, :] = float("inf")  # masked infinities must become mask_value, not nan (inf * 0)
    out = mask_expression(x, 0.4, rng=rng, mask_value=mask_value)
    assert torch.equal(out.x_masked[out.mask], torch.full_like(out.x_masked[out.mask], mask_value))
    assert torch.isinf(out.x_masked[0][~out.mask[0]]).all()


def test_cpu_noise_in_numpy_has_the_int32_tensor_code_bits():
    from bioR2.masking.noise import _GOLDEN, _signed32, _unit_

    for seed, ids in ((0, torch.randperm(3000)[:64]), (2**40 + 3, torch.tensor([0, 1, 2**33 + 5, 2**62, 7]))):
        rng = MaskRNG(seed, 11, ids)
        rows = rng._row_keys("s", torch.device("cpu"))  # the tensor code the other devices run
        assert torch.equal(torch.from_numpy(rng._row_keys_np("s").view("int32")), rows)
        offsets = torch.arange(300, dtype=torch.int32) * _signed32(_GOLDEN)
        tensor_code = _unit_(_mix32_i32_(rows[:, None] + offsets[None, :]))
        assert torch.equal(rng.uniform((300,), "s"), tensor_code)
        r, c = torch.randint(0, len(ids), (500,)), torch.randint(0, 300, (500,))
        assert torch.equal(rng.uniform_at(r, c, "s"), tensor_code[r, c])


@pytest.mark.parametrize("seed", range(4))
def test_cpu_sort_selection_equals_band_and_rank_selection(seed):
    from bioR2.masking.select import _band_select, _rank_select, _sort_select

    g = torch.Generator().manual_seed(seed)
    batch, length = 40, 300
    scores = MaskRNG(seed, 0, torch.arange(batch)).uniform((length,), "s")
    eligible = torch.rand(batch, length, generator=g) < (0.3 if seed % 2 else 1.1)
    scores = scores.masked_fill(~eligible, 2.0)
    n = eligible.sum(1)
    for ratio in (0.0, 0.05, 0.3, 0.9, 1.0):
        k = masked_count(n, ratio, min_one=ratio > 0)
        ranked = _rank_select(scores, k)
        assert torch.equal(_sort_select(scores, k), ranked)
        band = _band_select(scores, k, n)
        assert band is None or torch.equal(band, ranked)
    coarse = (torch.rand(batch, length, generator=g) * 4).floor() / 4  # many ties: position decides
    k = torch.randint(0, length + 1, (batch,), generator=g)
    assert torch.equal(_sort_select(coarse, k), _rank_select(coarse, k))


def test_expression_x_masked_is_computed_when_read_and_guards_in_place_edits():
    x = torch.rand(6, 10)
    out = mask_expression(x, 0.4, rng=_rng(6), mask_value=-1.0)
    assert torch.equal(out.x_masked, x.masked_fill(out.mask, -1.0))
    late = mask_expression(x, 0.4, rng=_rng(6))
    x.add_(1.0)
    with pytest.raises(RuntimeError, match="modified in place"):
        late.x_masked


@pytest.mark.parametrize("count", ["exact", "bernoulli"])
def test_all_positions_selection_equals_an_all_true_eligibility(count):
    from bioR2.masking.select import select_all_positions

    e = torch.ones(33, 70, dtype=torch.bool)
    for ratio in (0.0, 0.01, 0.3, torch.linspace(0.05, 0.9, 33, dtype=torch.float64)):
        for min_one in (True, False):
            rng = _rng(33, seed=4, step=2)
            want = select_positions(e, ratio, rng, "s", count=count, min_one=min_one)
            got = select_all_positions(e.shape, e.device, ratio, rng, "s", count=count, min_one=min_one)
            assert torch.equal(got, want)
    assert select_all_positions((0, 5), torch.device("cpu"), 0.3, None, "s").shape == (0, 5)
