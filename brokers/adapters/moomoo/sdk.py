"""futu-api, imported only when a Moomoo adapter is used, and told to keep quiet and out of the way."""

from __future__ import annotations

import functools
import logging
import signal
import threading
from types import ModuleType


@functools.cache
def futu() -> ModuleType:
    """The futu package. Importing it from the main thread installs a SIGINT handler that calls
    `os._exit(0)`: the previous handler is put back so Ctrl-C still shuts a worker down cleanly."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main else None
    import futu as sdk

    if main:
        signal.signal(signal.SIGINT, previous)
    _quiet(sdk)
    return sdk


def _quiet(sdk: ModuleType) -> None:
    # Its callback threads must never keep a worker process alive at exit.
    sdk.SysConfig.set_all_thread_daemon(True)
    # futu logs every request to stdout and to ~/.com.futunn.FutuOpenD/Log; our own logging says
    # what matters, so its logger only keeps critical messages (it writes none).
    sdk.set_futu_debug_model(False)
    log = sdk.common.ft_logger.logger
    log.file_level = logging.CRITICAL
    log.console_level = logging.CRITICAL
