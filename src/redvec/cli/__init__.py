"""The ``redvec`` command: each verb a few lines over the Python API.

Errors redvec raises on purpose print as one line on stderr with exit code 1;
anything else is a bug and keeps its traceback. One module per command group
(:mod:`redvec.cli.common` holds what they share).
"""

from __future__ import annotations

import enum
import sys
from typing import Any

import typer
import typer.main

from redvec.cli.common import app, err
from redvec.errors import RedvecError

# Each module registers its commands on the app when imported, in this order: the order
# of `redvec --help`.
# isort: off
from redvec.cli import server, indexes, tenants, cluster, search  # noqa: F401
from redvec.cli import ingest, serve, mcp, recommend, bench, ops  # noqa: F401
# isort: on


def _metavars(command: Any) -> None:
    """Every value option shows a metavar named after it (``--index NAME`` style, as
    argparse and click print them: ``--ef-runtime EF_RUNTIME``), choices as
    ``[a|b|c]``, flags none."""
    for param in getattr(command, "params", []):
        if param.__class__.__name__ == "TyperArgument":
            if param.metavar is None:
                param.metavar = param.name.upper()
            # Typer 0.29 prints an argument's Python type beside it ("NAME <str>"); the
            # help text says what it is.
            param.display_type_rich = lambda ctx: None
            continue
        if param.__class__.__name__ != "TyperOption" or param.metavar is not None:
            continue
        if param.is_flag:
            param.metavar = ""
            continue
        annotation = getattr(param.type_descriptor, "annotation", None)
        if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            param.metavar = "[" + "|".join(str(m.value) for m in annotation) + "]"
            continue
        longest = max(param.opts, key=len).lstrip("-")
        param.metavar = longest.replace("-", "_").upper()
    for sub in getattr(command, "commands", {}).values():
        _metavars(sub)


def command() -> Any:
    """The click command behind ``redvec``, with its help as documented."""
    cmd = typer.main.get_command(app)
    _metavars(cmd)
    return cmd


# Exit codes (docs/cli.md): 0 done; 1 an error the user can fix, named on one line
# (input, settings, a refusal, a Redis that cannot be used); 2 a usage error (unknown
# option, bad value: click's own); 130 interrupted.
EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
EXIT_REDIS = EXIT_ERROR  # scripts written against redvec's first releases test for 1


def _fail(message: str, code: int) -> None:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    sys.exit(code)


def main() -> None:
    """Run ``redvec``: every error a user can cause is one line naming the cause and the
    fix, with the exit code above; only a bug in redvec prints a traceback."""
    import redis

    from redvec.connection import unavailable
    from redvec.errors import ModuleMissingError, RedisUnavailableError
    from redvec.index import redis_message

    try:
        command()(standalone_mode=True)
    except (RedisUnavailableError, ModuleMissingError) as e:
        _fail(str(e), EXIT_REDIS)
    except RedvecError as e:
        _fail(str(e), EXIT_ERROR)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except redis.exceptions.NoPermissionError as e:
        _fail(
            f"Redis refused the command for this user: {redis_message(e)}; connect as a user "
            f"with the role the command needs (see `redvec acl create-user`)",
            EXIT_REDIS,
        )
    except redis.AuthenticationError as e:
        _fail(f"Redis refused the credentials: {e}; check the URL's user and password", EXIT_REDIS)
    except (redis.TimeoutError, redis.ConnectionError) as e:
        _fail(str(unavailable(e)), EXIT_REDIS)
    except redis.exceptions.InvalidResponse as e:
        _fail(
            f"the server at the Redis URL does not answer as Redis ({e}); check --url / "
            f"REDIS_URL: is it the port of another service?",
            EXIT_REDIS,
        )
    except redis.ResponseError as e:
        _fail(f"Redis refused the command: {redis_message(e)}", EXIT_ERROR)
    except UnicodeDecodeError as e:
        _fail(f"a file is not UTF-8 text ({e.reason} at byte {e.start}); save it as UTF-8", 1)
    except OSError as e:
        where = f" {e.filename}" if e.filename else ""
        _fail(f"{e.strerror or e}{':' + where if where else ''}", EXIT_ERROR)
