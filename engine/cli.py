"""The scripts' entry point: errors become one line on stderr and an exit status, never a traceback."""
from __future__ import annotations

import sys

from auxiliary.errors import (EXIT_BAD_INPUT, EXIT_NON_FINITE, InputError, Interrupted, NonFiniteLossError,
                              clean_message)


def run_cli(main, argv=None):
    """Run a script's ``main`` and turn the errors above into a message and an exit status."""
    try:
        return main(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr, flush=True)
        sys.exit(130)
    except Interrupted as error:
        print(f"interrupted: {error}", file=sys.stderr, flush=True)
        sys.exit(128 + error.signum)
    except NonFiniteLossError as error:
        print(f"error: {clean_message(error)}", file=sys.stderr, flush=True)
        sys.exit(EXIT_NON_FINITE)
    except (InputError, FileNotFoundError) as error:
        print(f"error: {clean_message(error)}", file=sys.stderr, flush=True)
        sys.exit(EXIT_BAD_INPUT)
    except RuntimeError as error:  # a worker's InputError can come back wrapped in a RuntimeError
        if "Original Traceback" in str(error) and any(name in str(error) for name in _INPUT_ERROR_NAMES):
            print(f"error: {clean_message(error)}", file=sys.stderr, flush=True)
            sys.exit(EXIT_BAD_INPUT)
        raise
    finally:
        from engine import distributed

        distributed.shutdown()


_INPUT_ERROR_NAMES = ("AnnotationError", "ImageError", "PointCloudError", "CheckpointError", "EmptySplitError",
                      "InputError", "FileNotFoundError")
