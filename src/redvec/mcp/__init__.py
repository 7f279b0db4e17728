"""``redvec mcp``: redvec's indexes as Model Context Protocol tools for AI agents.

Needs the ``redvec[mcp]`` extra (the official ``mcp`` SDK). See docs/mcp.md.
"""

from redvec.mcp.server import McpOptions, build_server, http_app

__all__ = ["McpOptions", "build_server", "http_app"]
