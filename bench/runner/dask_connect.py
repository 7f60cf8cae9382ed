"""Reaching a Dask scheduler for ``python -m bench run --scheduler ADDRESS``, or refusing in one line.

``local:N`` starts a local cluster of N worker processes; ``tcp://HOST:PORT`` and
``tls://HOST:PORT`` reach a running scheduler. A malformed address, ``tls://``
without the client's certificates in Dask's configuration
(``distributed.comm.tls.*``), an unreachable scheduler and one without a worker
offering the ``bench`` resource are each one :class:`UsageError` line, before
anything is written.
"""

from __future__ import annotations

import re

from ..cli import UsageError
from ..fmt import one_line

RESOURCE = "bench"
#: seconds to wait for a remote scheduler to answer
CONNECT_TIMEOUT = 10
#: the address schemes a remote scheduler may have
SCHEMES = ("tcp", "tls")
#: the Dask settings (``distributed.comm.tls.*``) that give the client its certificates
TLS_SETTINGS = "distributed.comm.tls.ca-file, distributed.comm.tls.client.cert and distributed.comm.tls.client.key"
TLS_EXAMPLE = (
    "DASK_DISTRIBUTED__COMM__TLS__CA_FILE=ca.pem DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT=cert.pem "
    "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY=key.pem"
)


def load_distributed():
    try:
        import distributed
    except ImportError:
        raise UsageError("--scheduler needs Dask's distributed scheduler: pip install -e '.[cluster]'") from None
    return distributed


def check_address(address: str) -> None:
    """Refuse a malformed address, or ``tls://`` without certificates, in one line (before anything is
    planned or written)."""
    load_distributed()
    from distributed.comm.addressing import parse_address, parse_host_port

    if address.startswith("local:"):
        if not re.fullmatch(r"local:[0-9]{1,2}", address) or not 1 <= int(address[6:]) <= 64:
            raise UsageError(f"--scheduler {address!r}: local:N takes a number of workers from 1 to 64")
        return
    usage = f"--scheduler {address!r} is not a scheduler address such as tcp://HOST:8786, tls://HOST:8786 or local:2"
    if "://" not in address or not address.isprintable() or any(c.isspace() for c in address):
        raise UsageError(usage)
    try:
        scheme, location = parse_address(address, strict=True)
        host, port = parse_host_port(location)
    except (ValueError, TypeError):
        raise UsageError(usage) from None
    if scheme not in SCHEMES:
        raise UsageError(f"{usage} (the scheme {scheme!r} is not one of {', '.join(SCHEMES)})")
    if not re.fullmatch(r"[A-Za-z0-9._:-]{1,253}", host) or not 1 <= port <= 65535:
        raise UsageError(f"{usage} (a host name or address, and a port from 1 to 65535)")
    security(address)


def security(address: str):
    """Dask's ``Security`` for ``address``: for ``tls://`` the certificates of Dask's configuration
    (``distributed.comm.tls.*``, also from ``DASK_DISTRIBUTED__COMM__TLS__...`` variables); None otherwise."""
    if not address.startswith("tls://"):
        return None
    distributed = load_distributed()
    refusal = f"--scheduler {address}: tls:// needs the client's certificates in Dask's configuration"
    try:
        secure = distributed.Security()
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{refusal}, which is not valid: {exc}") from None
    if not secure.tls_ca_file or not secure.tls_client_cert:
        raise UsageError(f"{refusal}: none is set; set {TLS_SETTINGS}, e.g. {TLS_EXAMPLE}")
    try:
        secure.get_connection_args("client")  # reads the files: a missing or wrong one is refused here
    except (OSError, ValueError) as exc:
        raise UsageError(f"{refusal}, which cannot be used: {exc}") from None
    return secure


def connect(address: str):
    """``(client, cluster or None)``; an unreachable scheduler, or one without suitable workers, is one line."""
    check_address(address)
    distributed = load_distributed()
    if address.startswith("local:"):
        cluster = distributed.LocalCluster(
            n_workers=int(address.split(":", 1)[1]),
            threads_per_worker=1,
            processes=True,
            resources={RESOURCE: 1},
            dashboard_address=None,
            silence_logs=50,
        )
        return distributed.Client(cluster), cluster
    try:
        client = distributed.Client(address, timeout=CONNECT_TIMEOUT, security=security(address))
    except (OSError, TimeoutError, ValueError, RuntimeError) as exc:
        first = one_line(exc, name=False)
        raise UsageError(f"cannot reach the Dask scheduler at {address}: {first}") from None
    try:
        _check_workers(client)
    except UsageError:
        client.close()
        raise
    return client, None


def _check_workers(client) -> None:
    workers = client.scheduler_info().get("workers", {})
    if not any(RESOURCE in (w.get("resources") or {}) for w in workers.values()):
        raise UsageError(
            f"no Dask worker of {client.scheduler.address} offers the resource {RESOURCE}=1; start "
            f"workers with: dask worker {client.scheduler.address} --nthreads 1 --resources {RESOURCE}=1"
        )
