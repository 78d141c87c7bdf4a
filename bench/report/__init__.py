"""Reports from result files: the report's data (``build``) and its sections (``sections``), the charts and
images it embeds (``figures``), its HTML and PDF (``render``, with the templates from ``bench.templates``) and
the side-by-side comparison of studies (``compare``, through ``render``'s templates and PDF renderer). Every
number is written by ``bench.format``, as in the gate's outputs.

Nothing here imports TensorFlow, so ``fmbench report`` and ``fmbench compare`` start in about a second.
"""
