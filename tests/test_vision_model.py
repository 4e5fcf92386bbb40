"""ViT-MAE pieces: patchify round trip, kept-patches-only encoder, masked-only loss, save/load."""

from __future__ import annotations

import pytest
import torch

from bioR2.masking import mask_patches, num_kept
from bioR2.train import load_model, save_model
from bioR2.vision import ViTMAE, patchify, sincos_pos_embed_2d, unpatchify


def tiny(**kw) -> ViTMAE:
    torch.manual_seed(0)
    args = dict(image_size=8, patch_size=2, in_chans=1, embed_dim=16, depth=2, num_heads=2,
                decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2)
    args.update(kw)
    return ViTMAE(**args)


@pytest.mark.parametrize("shape,p", [((2, 1, 8, 8), 2), ((3, 3, 12, 8), 4), ((1, 2, 28, 28), 7)])
def test_patchify_round_trip(shape, p):
    imgs = torch.randn(*shape)
    patches = patchify(imgs, p)
    assert patches.shape == (shape[0], (shape[2] // p) * (shape[3] // p), p * p * shape[1])
    assert torch.equal(unpatchify(patches, p, shape[1], shape[2], shape[3]), imgs)
    # Patch 0 is the top-left block, patch 1 the block to its right (row-major order).
    assert torch.equal(patches[0, 1].reshape(p, p, shape[1]), imgs[0, :, :p, p:2 * p].permute(1, 2, 0))


def test_patchify_rejects_indivisible_sizes():
    with pytest.raises(ValueError, match="not divisible"):
        patchify(torch.zeros(1, 1, 9, 8), 2)
    with pytest.raises(ValueError, match="patch_size"):
        ViTMAE(image_size=9, patch_size=2)


def test_sincos_positions_are_distinct_and_fixed():
    emb = sincos_pos_embed_2d(16, 4, 4)
    assert emb.shape == (17, 16)
    assert torch.all(emb[0] == 0)
    assert torch.unique(emb[1:], dim=0).shape[0] == 16
    model = tiny()
    assert "pos_embed" not in dict(model.named_parameters())  # fixed, not learned


def test_encoder_sees_only_kept_patches_at_every_ratio():
    model = tiny().eval()
    imgs = torch.rand(4, 1, 8, 8)
    seen = []
    hook = model.blocks[0].register_forward_pre_hook(lambda mod, inp: seen.append(inp[0].shape[1]))
    for ratio in (0.1, 0.5, 0.75, 0.9):
        masking = mask_patches(4, model.num_patches, ratio, rng=torch.Generator().manual_seed(1))
        latent = model.forward_encoder(imgs, masking)
        assert latent.shape == (4, 1 + num_kept(16, ratio), 16)
        assert seen[-1] == 1 + num_kept(16, ratio)
        pred = model.forward_decoder(latent, masking.ids_restore)
        assert pred.shape == (4, 16, 4)
    hook.remove()
    assert len(set(seen)) == 4


def test_hidden_pixels_do_not_reach_the_encoder():
    model = tiny().eval()
    imgs = torch.rand(3, 1, 8, 8)
    masking = mask_patches(3, model.num_patches, 0.75, rng=torch.Generator().manual_seed(2))
    pixel_mask = masking.mask.reshape(3, 4, 4).repeat_interleave(2, 1).repeat_interleave(2, 2)[:, None]
    changed = torch.where(pixel_mask, torch.rand_like(imgs), imgs)
    with torch.no_grad():
        a = model.forward_encoder(imgs, masking)
        b = model.forward_encoder(changed, masking)
        assert torch.allclose(a, b)
        # ... but they do change the loss, which scores exactly the hidden patches.
        out = model(imgs, masking)
        per_patch = ((out.pred - model.reconstruction_target(imgs)) ** 2).mean(-1)
        assert torch.allclose(out.loss, per_patch[masking.mask].mean())
        assert not torch.allclose(model(changed, masking).loss, out.loss)


def test_norm_pix_loss_targets_are_standardised_per_patch():
    model = tiny(norm_pix_loss=True)
    target = model.reconstruction_target(torch.rand(2, 1, 8, 8))
    assert torch.allclose(target.mean(-1), torch.zeros(2, 16), atol=1e-5)


def test_save_load_round_trip(tmp_path):
    model = tiny(pixel_mean=[0.3], pixel_std=[0.2]).eval()
    save_model(tmp_path, model)
    loaded = load_model(tmp_path).eval()
    assert isinstance(loaded, ViTMAE) and loaded.get_config() == model.get_config()
    imgs = torch.rand(2, 1, 8, 8)
    assert torch.allclose(model.features(imgs), loaded.features(imgs))
    assert model.features(imgs, pool="both").shape == (2, 32)


def test_wrong_image_shape_is_a_clear_error():
    with pytest.raises(ValueError, match="expected images of shape"):
        tiny().features(torch.rand(2, 3, 8, 8))
