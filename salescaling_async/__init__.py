"""salescaling-async: the asyncio-first SDK for the Salescaling Public API.

Public names are re-exported here; implementation modules start with ``_``.  Deliberate
public namespaces: ``models``, ``testing``, ``sync``, ``webhooks``.
"""

from ._breaker import BreakerConfig as BreakerConfig
from ._bulk import BulkProgress as BulkProgress
from ._bulk import BulkResult as BulkResult
from ._bulk import BulkRun as BulkRun
from ._bulk_sync import SyncBulkRun as SyncBulkRun
from ._cache import Cache as Cache
from ._cache import CacheStatistics as CacheStatistics
from ._cache import MemoryCache as MemoryCache
from ._cache_redis import RedisCache as RedisCache
from ._config import PoolLimits as PoolLimits
from ._config import RateLimits as RateLimits
from ._config import ResponseLimits as ResponseLimits
from ._config import RetryConfig as RetryConfig
from ._config import Timeouts as Timeouts
from ._config import Window as Window
from ._convert import Envelope as Envelope
from ._convert import from_dict as from_dict
from ._convert import to_dict as to_dict
from ._errors import APIStatusError as APIStatusError
from ._errors import AuthenticationError as AuthenticationError
from ._errors import BadRequestError as BadRequestError
from ._errors import BudgetStoreError as BudgetStoreError
from ._errors import CircuitOpenError as CircuitOpenError
from ._errors import ClientClosedError as ClientClosedError
from ._errors import ConfigError as ConfigError
from ._errors import ConnectError as ConnectError
from ._errors import DeadlineExceededError as DeadlineExceededError
from ._errors import NotFoundError as NotFoundError
from ._errors import PermissionDeniedError as PermissionDeniedError
from ._errors import QueueFullError as QueueFullError
from ._errors import RateLimitedError as RateLimitedError
from ._errors import ReadError as ReadError
from ._errors import RequestTimeoutError as RequestTimeoutError
from ._errors import ResponseTooLargeError as ResponseTooLargeError
from ._errors import ResponseValidationError as ResponseValidationError
from ._errors import SalescalingError as SalescalingError
from ._errors import ScopeError as ScopeError
from ._errors import ServerError as ServerError
from ._errors import TransportError as TransportError
from ._events import Event as Event
from ._events import RateLimitHit as RateLimitHit
from ._events import RequestAttempt as RequestAttempt
from ._events import RetryScheduled as RetryScheduled
from ._events import ThrottleWait as ThrottleWait
from ._logging import configure_from_env as _configure_logging_from_env
from ._pagination import AsyncPaginator as AsyncPaginator
from ._pagination import Page as Page
from ._redis import RedisBudget as RedisBudget
from ._resources import APIResponse as APIResponse
from ._scheduler import KeyStatistics as KeyStatistics
from ._session import AsyncSalescaling as AsyncSalescaling
from ._session import ClientState as ClientState
from ._stores import BudgetStore as BudgetStore
from ._stores import LocalBudget as LocalBudget
from ._types import UNSET as UNSET
from ._types import Priority as Priority
from ._version import __version__ as __version__
from .sync import Salescaling as Salescaling
from .sync import SyncInAsyncContextWarning as SyncInAsyncContextWarning
from .sync import run_sync as run_sync

_configure_logging_from_env()

__all__ = [
    "APIResponse",
    "APIStatusError",
    "AsyncPaginator",
    "AsyncSalescaling",
    "AuthenticationError",
    "BadRequestError",
    "BreakerConfig",
    "BudgetStore",
    "BudgetStoreError",
    "BulkProgress",
    "BulkResult",
    "BulkRun",
    "Cache",
    "CacheStatistics",
    "CircuitOpenError",
    "ClientClosedError",
    "ClientState",
    "ConfigError",
    "ConnectError",
    "DeadlineExceededError",
    "Envelope",
    "Event",
    "KeyStatistics",
    "LocalBudget",
    "MemoryCache",
    "NotFoundError",
    "Page",
    "PermissionDeniedError",
    "PoolLimits",
    "Priority",
    "QueueFullError",
    "RateLimitHit",
    "RateLimitedError",
    "RateLimits",
    "ReadError",
    "RedisBudget",
    "RedisCache",
    "RequestAttempt",
    "RequestTimeoutError",
    "ResponseLimits",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "RetryConfig",
    "RetryScheduled",
    "Salescaling",
    "SalescalingError",
    "ScopeError",
    "ServerError",
    "SyncBulkRun",
    "SyncInAsyncContextWarning",
    "ThrottleWait",
    "Timeouts",
    "TransportError",
    "UNSET",
    "Window",
    "from_dict",
    "run_sync",
    "to_dict",
]
