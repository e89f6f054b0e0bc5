"""Gateway settings, read from the environment (prefix ``V0_``) by pydantic-settings."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="V0_", extra="ignore")

    database_url: str = "sqlite:///./v0.db"
    policies: Path = Path("policies.yaml")
    # Comma-separated bearer keys accepted from clients; empty = no authentication.
    client_keys: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    # Worker processes of `v0-gateway serve` (uvicorn's supervisor; --workers overrides).
    workers: int = Field(default=1, ge=1)
    # Largest request body accepted (bytes); larger bodies get 413. Bounds the prompt size too.
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    # Seconds a client has to send its whole request body (408 after); a slow client cannot hold
    # a connection and its buffer.
    body_read_timeout_s: float = Field(default=30.0, gt=0)
    # Seconds a client has to send a request's head (request line and headers), from the
    # connection opening or the previous response ending; the connection is closed after
    # (`v0-gateway serve`).
    header_read_timeout_s: float = Field(default=10.0, gt=0)
    # Seconds between checks of policies.yaml for changes (0 disables hot reload).
    policy_reload_s: float = Field(default=2.0, ge=0)
    # Decision-log writer: rows per batch, seconds between flushes, and the in-memory bound.
    log_batch_size: int = Field(default=200, gt=0)
    log_flush_s: float = Field(default=0.2, gt=0)
    log_buffer_max: int = Field(default=10_000, gt=0)
    log_retry_max_s: float = Field(default=5.0, gt=0)
    # Shutdown: seconds the writer keeps retrying unwritten rows before exiting (they stay spooled).
    log_close_timeout_s: float = Field(default=10.0, ge=0)
    # Seconds between fsyncs of the decision spool (what a machine crash can lose; 0 = every flush).
    log_spool_fsync_s: float = Field(default=1.0, ge=0)
    # Local state of this process: the decision spool and quarantine (spool/), the profile cache.
    # Empty = no spool and no profile cache (rows live in memory only until written).
    state_dir: str = "v0-state"
    # Every database call's time limit (connect, statement, pool wait, SQLite busy wait).
    db_timeout_s: float = Field(default=5.0, gt=0)
    # Threads for blocking database work, and for V0 scoring outside the chat path (uploads,
    # /v1/score, /v1/allocate); separate so that a database partition never holds a scoring thread.
    db_threads: int = Field(default=4, gt=0)
    scoring_threads: int = Field(default=4, gt=0)
    # Chat requests are scored on one thread, every request waiting for scores in one batch
    # (router/scoring/batcher.py): at most this many per batch.
    scoring_batch_max: int = Field(default=32, gt=0)
    # Scoring guard: seconds a request waits for its scores, requests that may wait for scores at
    # once, and the circuit breaker (consecutive failures to open it, seconds it stays open).
    # Past any of them the request goes to its policy's fallback with a reason (x-v0-fallback-reason).
    scoring_timeout_s: float = Field(default=5.0, gt=0)
    scoring_queue_max: int = Field(default=128, gt=0)
    scoring_breaker_failures: int = Field(default=5, gt=0)
    scoring_breaker_cooldown_s: float = Field(default=10.0, gt=0)
    # Redis for per-key limits shared by every replica (rpm, tpm, budget reservations), e.g.
    # redis://127.0.0.1:6379/0; empty = each replica counts on its own (exact on one replica).
    redis_url: str = ""
    # Admin API (/admin/...): bearer key; empty = the admin API is off (every /admin path is 404).
    admin_key: str = ""
    # Largest profile upload (bytes, 413 above) and most rows in one upload.
    max_upload_bytes: int = Field(default=10_485_760, gt=0)
    max_upload_rows: int = Field(default=50_000, gt=0)
    # POST /v1/score and /v1/allocate: most prompts (and inline profile rows) per call (413 above),
    # and their own body limit (bytes; thousands of prompts do not fit V0_MAX_BODY_BYTES).
    score_max_prompts: int = Field(default=10_000, gt=0)
    score_max_body_bytes: int = Field(default=16_777_216, gt=0)
    # ...the longest prompt (and inline profile prompt) in characters (400 above), and
    # /v1/allocate's largest total_budget (400 above; the allocation's memory is linear in the
    # prompts whatever the budget, its time grows with the log of the budget).
    score_max_prompt_chars: int = Field(default=32_768, gt=0)
    allocate_max_total_budget: int = Field(default=10_000_000, gt=0)
    # /v1/allocate's default posterior around each prediction (valuemodel.allocate.Posterior):
    # Beta evidence and shrinkage toward the profile's mean score (measured: docs/BENCHMARKS.md).
    allocate_evidence: float = Field(default=1.0, gt=0)
    allocate_shrink: float = Field(default=0.1, ge=0, le=1)
    # Scorer: "v0" (the value model over stored profiles) or "stand-in" (price-rank placeholder).
    scorer: Literal["v0", "stand-in"] = "v0"
    # V0 checkpoint folder (empty = the shipped weights) and head (empty = the checkpoint's default).
    weights: str = ""
    head: str = ""
    # CPU threads of V0's backbone runtime and of numpy's BLAS pool (V0_THREADS; empty: 1 thread).
    threads: int | None = Field(default=None, gt=0)
    # prometheus-client's multiprocess folder (`serve --workers N` sets it for its workers; not V0_).
    prometheus_multiproc_dir: str = Field(default="", validation_alias="PROMETHEUS_MULTIPROC_DIR")
    # Where V0 runs: "cpu" or a torch device such as "cuda" (when the machine has a GPU).
    device: str = "cpu"
    # V0's runtime: "auto" (CPU: onnxruntime + numpy, no torch in the process; else torch),
    # "numpy" (refuse to start without it) or "torch" (the training stack's V0).
    runtime: Literal["auto", "numpy", "torch"] = "auto"
    # Seconds between checks of profile versions and client keys in the database (other replicas'
    # changes); 0 disables the poll loop (local changes still apply at once).
    profile_poll_s: float = Field(default=1.0, ge=0)
    # Profile states rebuilt after grades (feedback, judge, shadow): at most one rebuild per model
    # per this many seconds, however fast grades arrive (router/profiles/refresh.py).
    profile_refresh_s: float = Field(default=0.5, ge=0)
    # The learning loop (policies.yaml grading:, router/grading/): workers that make judge and
    # shadow calls off the request path, the queue of answered requests waiting for them (full:
    # skipped and counted), shadow calls in flight at most, the most tokens a shadow call may
    # answer when the client set no max_tokens, and the judge's reply limit.
    grading_workers: int = Field(default=4, gt=0)
    grading_queue_max: int = Field(default=1000, gt=0)
    shadow_concurrency: int = Field(default=2, gt=0)
    shadow_max_tokens: int = Field(default=1024, gt=0)
    judge_max_tokens: int = Field(default=200, gt=0)
    # Seed of the grading draws (which answers are graded or shadowed); empty = fresh randomness.
    grading_seed: int | None = None
    # Drift: predicted vs judged per candidate over its last calibration_window graded answers
    # (v0_calibration_error); a warning is logged when the judged mean falls more than
    # calibration_alert_drop below the predicted mean (with at least calibration_min_n answers).
    calibration_window: int = Field(default=200, gt=0)
    calibration_min_n: int = Field(default=20, gt=0)
    calibration_alert_drop: float = Field(default=0.15, gt=0, le=1)
    # Seed the shipped default profiles into an empty database on first start.
    seed_profiles: bool = True
    # Seed of exploration's random draws (policy ``explore``); empty = fresh randomness per start.
    explore_seed: int | None = None
    # Add x-v0-overhead-ms (request receipt -> upstream call) to responses; for benchmarks.
    debug_timing: bool = False

    @property
    def client_key_set(self) -> frozenset[str]:
        return frozenset(k.strip() for k in self.client_keys.split(",") if k.strip())
