"""aspo-repro: a reproduction harness for ASPO (Adaptive Sentence-Level Preference Optimization).

One module per concern: ``methods`` (the registry), ``losses`` and ``weights`` (pure tensor
functions), ``segmentation`` (sentence units), ``storage`` (atomic writes, content hashes),
``provenance``, and the pipeline stages (miniworld, data, models, training, evaluation, tables,
orchestration). The command line lives in ``aspo_repro.cli``.
"""

__version__ = "0.1.0"
