"""Numbers computed from result files: aggregates (``stats``), tests, intervals and power (``significance``),
the regression gate (``gate``, with ``ci_output`` for its CI files) and study comparisons (``compare``).

Nothing here imports TensorFlow: reports, checks and comparisons run on any machine that can read the files.
"""
