"""The chunk pipeline: extract → dedupe → analyze → filter → store, one module per stage.

Stages are pure: they take records and return records plus what they measured. The worker's
``chunk`` handler (:mod:`fundkit.pipeline.run`) does the database work around them.
"""
