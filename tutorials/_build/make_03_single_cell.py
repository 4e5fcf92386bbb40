"""Builds tutorials/03_single_cell.ipynb (run: python tutorials/_build/make_03_single_cell.py)."""

import nbformat as nbf

cells = [
    nbf.v4.new_markdown_cell(
        "# Single-cell: from an `.h5ad` of counts to annotated cells\n\n"
        "Three calls: `bioR2.sc.pretrain` (an expression masked autoencoder trained with R²MAE, the masking "
        "ratio drawn per mini-batch from U(0.1, 0.5)), `bioR2.sc.embed` (writes `obsm['X_r2mae']`, optionally a "
        "UMAP) and `bioR2.sc.annotate` (labels query cells from a labelled reference). The data: scanpy's bundled "
        "PBMC sample (700 cells), with raw counts rebuilt from its `.raw` (see `bioR2.sc.example_data.pbmc68k`)."
    ),
    nbf.v4.new_code_cell(
        "import numpy as np, torch\n"
        "import bioR2.sc as bsc\n"
        "from bioR2.sc.example_data import pbmc68k\n\n"
        "torch.set_num_threads(1)\n"
        "adata = pbmc68k()                        # counts in .X, labels in obs['bulk_labels']\n"
        "adata.layers['counts'] = adata.X.copy()\n"
        "rng = np.random.default_rng(0)\n"
        "is_query = rng.random(adata.n_obs) < 0.3\n"
        "reference, query = adata[~is_query].copy(), adata[is_query].copy()\n"
        "truth = query.obs.pop('bulk_labels').astype(str).to_numpy()   # the query is unlabelled\n"
        "reference, query"
    ),
    nbf.v4.new_markdown_cell(
        "## 1. Pretrain\nThe gene list is fixed here and saved with the model (`config.json`), and so is where "
        "the values were read (`layer='counts'`) and how they are normalised (counts, CP10k + log1p by the "
        "package), as scvi-tools' `setup_anndata` does: embedding and annotation read a query the same way "
        "without being told again. `out=` writes a run folder (weights, config, log); the result holds the "
        "model, the loss log and the resolved config."
    ),
    nbf.v4.new_code_cell(
        "import tempfile, pathlib\n"
        "run = pathlib.Path(tempfile.mkdtemp()) / 'pbmc_r2mae'\n"
        "result = bsc.pretrain(reference, run, layer='counts', steps=300, batch_size=128,   # R²MAE U(0.1, 0.5)\n"
        "                      model={'hidden': [256, 128], 'latent': 32}, progress=False)\n"
        "model = result.model\n"
        "len(model.genes), model.layer, sorted(p.name for p in run.iterdir())"
    ),
    nbf.v4.new_markdown_cell("## 2. Embed (and UMAP)"),
    nbf.v4.new_code_cell(
        "bsc.embed(reference, run, umap=True)   # obsm['X_r2mae'], obsm['X_umap_r2mae']; reads layer 'counts'\n"
        "import scanpy as sc\n"
        "sc.pl.embedding(reference, 'X_umap_r2mae', color='bulk_labels', frameon=False, title='R²MAE embedding')"
    ),
    nbf.v4.new_markdown_cell(
        "## 3. Annotate\nA logistic-regression probe on the embeddings of the reference labels the query; "
        "`method='finetune'` fine-tunes the encoder instead. Existing query fields are never changed."
    ),
    nbf.v4.new_code_cell(
        "bsc.annotate(query, model, reference, label_key='bulk_labels')   # in place; 'Unknown' below min_confidence\n"
        "accuracy = float(np.mean(query.obs['r2mae_label'].astype(str).to_numpy() == truth))\n"
        "majority = max(np.mean(truth == c) for c in set(truth))\n"
        "print(f'accuracy {accuracy:.3f} (majority class {majority:.3f})')\n"
        "query.obs[['r2mae_label', 'r2mae_confidence']].head()"
    ),
    nbf.v4.new_markdown_cell(
        "## Queries with other genes\nA query is aligned to the model's genes by `var_names`: missing genes are "
        "zero-filled and the overlap is reported; below `min_overlap` (default 50%) it is refused."
    ),
    nbf.v4.new_code_cell(
        "partial = query[:, query.var_names[:600]].copy()   # 600 of the 765 genes\n"
        "reader = bsc.reader_for(partial, model)\n"
        "print(reader.alignment.report())\n"
        "try:\n"
        "    bsc.embed(query[:, :100].copy(), model)\n"
        "except ValueError as err:\n"
        "    print('refused:', str(err)[:110], '...')"
    ),
    nbf.v4.new_markdown_cell(
        "## The same from the command line\n"
        "```bash\n"
        "bior2 pretrain sc --h5ad ref.h5ad --layer counts --out runs/pbmc          # R²MAE U(0.1, 0.5) by default\n"
        "bior2 embed --model runs/pbmc --h5ad ref.h5ad --out ref_emb.h5ad             # reads the model's layer\n"
        "bior2 annotate --model runs/pbmc --reference ref.h5ad --label-key bulk_labels \\\n"
        "    --query query.h5ad --out query_annotated.h5ad\n"
        "bior2 benchmark sc --dataset cbmc --quick --out bench/cbmc               # R²MAE vs fixed ratios and baselines\n"
        "```"
    ),
]
nb = nbf.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})
nbf.write(nb, "tutorials/03_single_cell.ipynb")
