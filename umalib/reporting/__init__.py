"""Presentation: the paper's claims and the rule that decides them (:mod:`.claims`), tables
and figures on disk (:mod:`.files`, :mod:`.format`), descriptive lines, the paper's numbers,
plots, notes, seed aggregation and the ipynb widgets. Nothing here is hashed into a cache key,
so editing it never rebuilds an artifact."""
