"""Presentation: tables and figures on disk (:mod:`.files`), findings in words, the paper's
numbers, plots, notes, seed aggregation and the ipynb widgets. Nothing here is hashed into a
cache key, so editing it never rebuilds an artifact."""
