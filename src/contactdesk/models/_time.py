import time


def now_epoch() -> int:
    return int(time.time())
