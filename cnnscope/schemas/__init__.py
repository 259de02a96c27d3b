"""JSON Schemas of the ``--json`` documents (see ``cnnscope.report.documents`` and docs/json.md)."""
