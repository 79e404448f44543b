"""Load client: replay a trace against any OpenAI-compatible server, open loop.

Each request is sent at its arrival time (relative to the trace's first arrival, scaled by
`time_scale`) whatever happened to earlier ones, as a streamed completion of its token ids
(`ignore_eos`, `max_tokens = output_len`). Its first streamed text marks the first token,
its last one the finish; token counts come from the final `usage` chunk when the server
sends one (`prompt_tokens_details.cached_tokens` gives the cached tokens), else from the
chunks. The engine is the proxy's `x-backend-id` header (-1 without a proxy). Failures are
recorded, never dropped. Records are the simulator's `RequestRecord`s, on the trace's clock.

    python -m toolkit.http.client --url http://127.0.0.1:8000 --trace t.jsonl \
        --num-requests 200 --out records.parquet
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from tqdm.auto import tqdm

from toolkit.core.record import RequestRecord, records_to_frame
from toolkit.core.request import Request
from toolkit.core.trace import Trace
from toolkit.http.protocol import sse_info

log = logging.getLogger(__name__)

Clock = Callable[[], float]


def check_replayable(trace: Trace) -> None:
    """Raise ValueError naming the first request that has no token ids (block-hash traces
    describe prompts only by hashes, which a real server cannot run)."""
    for r in trace:
        if r.prompt_token_ids is None:
            raise ValueError(
                f"request {r.id!r} has no prompt_token_ids (a block-hash trace); the load "
                "client needs token-id prompts — replay block-hash traces on the simulator")


def base_url(url: str) -> str:
    """`url` without a trailing `/` or `/v1`."""
    url = url.rstrip("/")
    return url[:-3] if url.endswith("/v1") else url


def replay(trace: Trace, url: str, *, model: str | None = None, num_requests: int | None = None,
           time_scale: float = 1.0, max_connections: int = 2048, timeout_s: float = 600.0,
           progress: bool = True) -> list[RequestRecord]:
    """Replay `trace` (its first `num_requests`, arrivals times `time_scale`) against the
    server at `url`; one record per request, in trace order.

    `model` defaults to the first of the server's `/v1/models`. Works inside a running event
    loop too (a notebook), by running in a worker thread.
    """
    trace = trace.head(num_requests)
    if time_scale != 1.0 and len(trace):
        trace = trace.scale_time(time_scale)
    check_replayable(trace)
    coro = replay_async(trace, url, model=model, max_connections=max_connections,
                        timeout_s=timeout_s, progress=progress)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def replay_async(trace: Trace, url: str, *, model: str | None = None,
                       max_connections: int = 2048, timeout_s: float = 600.0,
                       progress: bool = True) -> list[RequestRecord]:
    """The coroutine behind `replay` (no head/scale; the trace is sent as is)."""
    check_replayable(trace)
    base = base_url(url)
    limits = httpx.Limits(max_connections=max_connections,
                          max_keepalive_connections=max_connections)
    timeout = httpx.Timeout(timeout_s, connect=10.0, pool=timeout_s)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        model = model or await discover_model(client, base)
        t_first = trace.requests[0].arrival_s if len(trace) else 0.0
        start = time.perf_counter()

        def clock() -> float:
            return t_first + time.perf_counter() - start

        bar = tqdm(total=len(trace), desc="replay", unit="req", disable=not progress)
        tasks = []
        try:
            for r in trace:
                delay = r.arrival_s - clock()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(send_one(client, base, model, r, clock, bar)))
            return list(await asyncio.gather(*tasks))
        finally:
            bar.close()


async def discover_model(client: httpx.AsyncClient, base: str) -> str:
    """The first model id the server lists ('default' if it lists none)."""
    try:
        r = await client.get(f"{base}/v1/models", timeout=10.0)
        data = r.json().get("data") or []
        if r.status_code == 200 and data:
            return str(data[0]["id"])
    except (httpx.HTTPError, ValueError, KeyError, AttributeError) as e:
        log.warning("could not list models at %s (%s); using 'default'", base, e)
    return "default"


def completion_body(r: Request, model: str) -> dict:
    """The streamed `/v1/completions` body that replays request `r`."""
    return {
        "model": model, "prompt": list(r.prompt_token_ids or ()), "max_tokens": r.output_len,
        "stream": True, "stream_options": {"include_usage": True}, "ignore_eos": True,
        "temperature": 0.0,
    }


async def send_one(client: httpx.AsyncClient, base: str, model: str, r: Request, clock: Clock,
                   bar: tqdm | None = None) -> RequestRecord:
    """Send one request, stream its answer, and return its record (failed ones marked)."""
    rec = RequestRecord(r.id, r.arrival_s, num_prompt_tokens=r.prompt_len,
                        session=r.session, tier=r.tier)
    try:
        async with client.stream("POST", f"{base}/v1/completions",
                                 json=completion_body(r, model)) as resp:
            rec.engine_id = _engine_id(resp)
            if resp.status_code != 200:
                text = (await resp.aread()).decode("utf-8", "replace")[:300]
                _fail(rec, f"HTTP {resp.status_code}: {text}")
            else:
                await _consume(resp, rec, clock)
    except httpx.HTTPError as e:
        _fail(rec, f"{type(e).__name__}: {e}")
    finally:
        if bar is not None:
            bar.update(1)
    return rec


async def _consume(resp: httpx.Response, rec: RequestRecord, clock: Clock) -> None:
    """Read the event stream into `rec`."""
    num_chunks, usage, done = 0, None, False
    async for line in resp.aiter_lines():
        if line.startswith("data:") and line[5:].strip() == "[DONE]":
            done = True
            break
        has_text, chunk_usage, err = sse_info(line)
        if err is not None:
            _fail(rec, f"server error mid-stream: {err}")
            return
        if has_text:
            now = clock()
            num_chunks += 1
            if num_chunks == 1:
                rec.first_token_s = now
            rec.finish_s = now
        if chunk_usage is not None:
            usage = chunk_usage
    if not done:
        _fail(rec, f"stream ended without [DONE] after {num_chunks} chunks")
        return
    if num_chunks == 0:  # nothing generated (max_tokens 0): the stream's end is both times
        rec.first_token_s = rec.finish_s = clock()
    _apply_usage(rec, usage, num_chunks)


def _apply_usage(rec: RequestRecord, usage: object, num_chunks: int) -> None:
    rec.num_output_tokens = num_chunks
    if not isinstance(usage, dict):
        return
    rec.num_output_tokens = int(usage.get("completion_tokens") or num_chunks)
    rec.num_prompt_tokens = int(usage.get("prompt_tokens") or rec.num_prompt_tokens)
    details = usage.get("prompt_tokens_details")
    if isinstance(details, dict):
        rec.num_cached_tokens = int(details.get("cached_tokens") or 0)


def _engine_id(resp: httpx.Response) -> int:
    try:
        return int(resp.headers.get("x-backend-id", -1))
    except ValueError:
        return -1


def _fail(rec: RequestRecord, error: str) -> None:
    rec.failed = True
    rec.error = error
    rec.first_token_s = rec.finish_s = math.nan


def write_records(records: list[RequestRecord], path: str | Path) -> None:
    """Write records to parquet with the canonical columns."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    records_to_frame(records).to_parquet(path, index=False)


def main(argv: list[str] | None = None) -> None:
    """Command line: replay a JSONL trace and write records.parquet."""
    p = argparse.ArgumentParser(description="Replay a trace against an OpenAI-compatible URL.")
    p.add_argument("--url", required=True, help="server base URL (with or without /v1)")
    p.add_argument("--trace", required=True, help="JSONL trace with prompt_token_ids")
    p.add_argument("--num-requests", type=int, default=None)
    p.add_argument("--time-scale", type=float, default=1.0,
                   help="multiply inter-arrival times by this factor")
    p.add_argument("--model", default=None, help="model name (default: the server's first)")
    p.add_argument("--out", default="records.parquet")
    p.add_argument("--timeout", type=float, default=600.0, help="per-request timeout, s")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    trace = Trace.from_jsonl(a.trace, a.num_requests)
    records = replay(trace, a.url, model=a.model, time_scale=a.time_scale,
                     timeout_s=a.timeout, progress=not a.no_progress)
    write_records(records, a.out)
    failed = sum(r.failed for r in records)
    print(f"{len(records)} requests, {failed} failed; records written to {a.out}")


if __name__ == "__main__":
    main()
