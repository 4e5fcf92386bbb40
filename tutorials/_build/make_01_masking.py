"""Builds tutorials/01_masking_and_trainer.ipynb (run: python tutorials/_build/make_01_masking.py)."""

import nbformat as nbf

cells = [
    nbf.v4.new_markdown_cell(
        "# R²MAE masking and the shared trainer\n\n"
        "R²MAE draws a new masking ratio for every mini-batch, `p ~ U(p_min, p_max)`, instead of fixing it. "
        "This notebook shows the three pieces every bioR2 domain builds on:\n\n"
        "1. **ratios** — `parse_mask_ratio` reads `0.15` (fixed) or `0.05-0.3` (R²MAE);\n"
        "2. **maskers** — token (masked LM), patch (MAE) and expression (single-cell) masks;\n"
        "3. **the trainer** — any `Task` trains with DDP, checkpoints and exact resume."
    ),
    nbf.v4.new_code_cell(
        "from bioR2.masking import parse_mask_ratio\n\n"
        "r2mae = parse_mask_ratio('0.05-0.3')   # the DNA default range\n"
        "fixed = parse_mask_ratio(0.15)         # GPN / BERT's fixed ratio\n"
        "# a ratio is a pure function of (seed, step): every GPU and every resumed run agree\n"
        "[round(r2mae.sample(seed=0, step=s), 3) for s in range(8)], fixed.sample(0, 5)"
    ),
    nbf.v4.new_markdown_cell(
        "## Masks\n`MaskRNG(seed, step, example_ids)` makes the random numbers behind a mask depend on the "
        "example's dataset index, so the same example gets the same mask on any number of processes."
    ),
    nbf.v4.new_code_cell(
        "import torch\n"
        "from bioR2.masking import MaskRNG, mask_tokens, mask_patches, mask_expression\n\n"
        "ids = torch.randint(3, 7, (2, 24))           # two sequences of nucleotide ids\n"
        "rng = MaskRNG(seed=0, step=3, example_ids=torch.tensor([10, 11]))\n"
        "out = mask_tokens(ids, 0.25, mask_token_id=1, special_ids=[0], random_token_ids=[3, 4, 5, 6], rng=rng)\n"
        "print('input  ', ids[0].tolist())\n"
        "print('masked ', out.input_ids[0].tolist())\n"
        "print('labels ', out.labels[0].tolist())\n"
        "print('masked per row:', out.mask.sum(1).tolist())"
    ),
    nbf.v4.new_code_cell(
        "pm = mask_patches(batch_size=2, num_patches=16, ratio=0.75, rng=rng)\n"
        "print('visible patches:', pm.ids_keep.tolist())\n"
        "x = torch.rand(2, 10) * (torch.rand(2, 10) > 0.5)\n"
        "em = mask_expression(x, 0.5, only_nonzero=True, rng=rng)\n"
        "print('nonzero genes   :', (x != 0).int().tolist())\n"
        "print('masked genes    :', em.mask.int().tolist())"
    ),
    nbf.v4.new_markdown_cell(
        "## A task on the shared trainer\nA domain only writes a `Task`: a module holding `self.model` whose "
        "`forward(batch, mask_ratio, rng)` returns a loss. Here: a small masked autoencoder on random low-rank data."
    ),
    nbf.v4.new_code_cell(
        "import tempfile, json, pathlib\n"
        "from torch import nn\n"
        "from bioR2.train import PretrainedModule, Task, TaskOutput, TrainConfig, Trainer, load_model\n\n"
        "class TinyMAE(PretrainedModule):\n"
        "    def __init__(self, n_features=20, hidden=32):\n"
        "        super().__init__()\n"
        "        self.n_features, self.hidden = n_features, hidden\n"
        "        self.net = nn.Sequential(nn.Linear(2 * n_features, hidden), nn.GELU(), nn.Linear(hidden, n_features))\n"
        "    def get_config(self):\n"
        "        return {'n_features': self.n_features, 'hidden': self.hidden}\n"
        "    def forward(self, x, mask):\n"
        "        return self.net(torch.cat([x, mask.float()], 1))\n\n"
        "class TinyTask(Task):\n"
        "    def __init__(self, model):\n"
        "        super().__init__(); self.model = model\n"
        "    def forward(self, batch, mask_ratio, rng):\n"
        "        m = mask_expression(batch, mask_ratio, rng=rng)\n"
        "        loss = ((self.model(m.x_masked, m.mask) - batch) ** 2)[m.mask].mean()\n"
        "        return TaskOutput(loss=loss, n_examples=batch.shape[0], n_tokens=batch.numel())\n\n"
        "torch.manual_seed(0)\n"
        "data = torch.randn(256, 4) @ torch.randn(4, 20)\n"
        "run = pathlib.Path(tempfile.mkdtemp()) / 'run'\n"
        "cfg = TrainConfig(steps=60, batch_size=32, lr=3e-3, mask_ratio='0.1-0.5', progress=False)\n"
        "result = Trainer(TinyTask(TinyMAE()), data, cfg, run, val_dataset=data[:64]).fit()\n"
        "result"
    ),
    nbf.v4.new_code_cell(
        "log = [json.loads(l) for l in (run / 'log.jsonl').read_text().splitlines()]\n"
        "train = [r for r in log if 'loss' in r]\n"
        "print('first/last loss:', round(train[0]['loss'], 3), round(train[-1]['loss'], 3))\n"
        "print('ratios drawn   :', [round(r['mask_ratio'], 2) for r in train[:6]])\n"
        "model = load_model(run)   # JSON config + safetensors, no pickle\n"
        "type(model).__name__, sorted(p.name for p in run.iterdir())"
    ),
]
nb = nbf.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})
nbf.write(nb, "tutorials/01_masking_and_trainer.ipynb")
