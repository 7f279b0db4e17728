"""redvec inside frameworks: each integration is an optional extra over the public API
(``redvec[langchain]``: :mod:`redvec.integrations.langchain`)."""
