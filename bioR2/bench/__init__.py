"""The benchmark harness: every ``bior2 benchmark <domain>``, its datasets, baselines and sweeps.

Not part of the library's import graph: nothing in ``bioR2.masking``, ``bioR2.train`` or a
domain's library modules imports ``bioR2.bench``; the benchmarks import the library.

- :mod:`bioR2.bench.common` — helpers shared by the benchmarks (method names, paired
  differences, :class:`~bioR2.bench.common.ResultCache` and :func:`~bioR2.bench.common.run_all`,
  loss-curve figures).
- :mod:`bioR2.bench.cli` — the argparse hooks of ``bior2 benchmark dna|sc|vision|text|theory``.
- ``dna`` / ``dna_data``, ``sc`` / ``sc_datasets`` / ``sc_baselines``, ``vision``, ``text``,
  ``theory`` / ``sizesweep`` — the benchmarks and their data.
"""
