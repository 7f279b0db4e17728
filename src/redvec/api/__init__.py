"""The HTTP service (``redvec serve``): Litestar on uvicorn, over the library."""

from redvec.api.app import create_app, create_app_from_env, stream_for
from redvec.api.auth import ApiKey, KeyRing, new_key
from redvec.api.service import ServiceConfig

__all__ = [
    "ApiKey",
    "KeyRing",
    "ServiceConfig",
    "create_app",
    "create_app_from_env",
    "new_key",
    "stream_for",
]
