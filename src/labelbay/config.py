"""All of labelbay's settings, in one pydantic-settings class.

Every setting reads from the environment with the prefix `LABELBAY_` (and from `.env`). Defaults
are the embedded shape: a SQLite file and a local folder under `./data`, workers in process.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"  # noqa: S105 - the known default we refuse in prod

Environment = Literal["development", "test", "production"]


def _ml_env(name: str) -> AliasChoices:
    """The field name, `LABELBAY_ML_<name>` and the old deployments' bare `ML_<name>`."""
    return AliasChoices(f"LABELBAY_ML_{name}", f"ML_{name}", f"ml_{name.lower()}")


class Settings(BaseSettings):
    """labelbay's configuration. `public_view()` is what `GET /config` shows."""

    model_config = SettingsConfigDict(
        env_prefix="LABELBAY_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: Environment = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_json: bool = True

    database_url: str = "sqlite:///./data/labelbay.db"
    database_echo: bool = False

    storage_url: str = "file://./data/objects"
    # Each location defaults to a prefix of storage_url; set one for its own bucket or prefix.
    storage_input_url: str | None = None
    storage_output_url: str | None = None
    storage_nolabel_url: str | None = None
    storage_models_url: str | None = None
    storage_artifacts_url: str | None = None
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_region: str | None = None
    presign_expiry_seconds: int = Field(default=900, ge=1, le=7 * 24 * 3600)
    # Signed image links in exports (Label Studio tasks): how long a link opens its image without
    # sign-in. Signed with a key derived from secret_key; changing that key revokes every link.
    signed_url_expiry_seconds: int = Field(default=7 * 24 * 3600, ge=60, le=90 * 24 * 3600)

    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    jwt_expire_minutes: int = Field(default=60 * 12, ge=1)

    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    max_image_pixels: int = Field(default=64_000_000, ge=1)
    max_filename_length: int = Field(default=255, ge=16)
    max_files_per_request: int = Field(default=10_000, ge=1)

    # Hostile input (README "Security"): limits applied to every request before authentication.
    max_json_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_upload_request_bytes: int = Field(default=64 * 1024**3, ge=1024)
    body_timeout_s: float = Field(default=30.0, gt=0)
    body_min_rate_bytes_per_s: int = Field(default=8 * 1024, ge=1)

    rate_limit_enabled: bool = True
    rate_limit_per_user: str = "1200/minute"
    rate_limit_per_ip: str = "2400/minute"
    rate_limit_login_per_account: str = "10/minute"
    rate_limit_storage_url: str = "memory://"
    # Addresses or networks of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are
    # believed; from any other peer those headers are ignored.
    trusted_proxies: list[str] = Field(default_factory=list)

    model_cache_dir: str = "./data/model-cache"
    onnx_intra_op_threads: int = Field(default=1, ge=1, le=64)
    onnx_providers: list[str] = Field(default_factory=lambda: ["CPUExecutionProvider"])
    confidence_threshold: float = Field(default=0.25, ge=0.0, le=1.0)
    iou_threshold: float = Field(default=0.45, ge=0.0, le=1.0)
    max_detections: int = Field(default=300, ge=1)

    # Jobs: "inprocess" runs tasks in model processes that `labelbay serve` starts and supervises;
    # "celery" sends them to `labelbay worker` processes through the broker. The task code is the
    # same. Model processes: how many at most (0 = one per core); the API process never runs models.
    executor: Literal["inprocess", "celery"] = "inprocess"
    inprocess_workers: int = Field(default=0, ge=0, le=64)
    # Python modules imported by every labelbay process (server, model processes, workers, CLI)
    # before it loads a model: each may add a row to the model format table
    # (`labelbay.inference.registry.FORMATS`), to bring a model adapter of your own.
    model_plugins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    broker_url: str = "amqp://guest:guest@127.0.0.1:5672//"
    job_queue: str = "labelbay.jobs"
    # The old Object Detection Worker's contract: plain JSON task messages on this queue.
    legacy_task_queue: str = "detection-tasks"
    legacy_task_model: str = "circles"
    legacy_callback_secret: SecretStr | None = None
    # Images per batch (a message, a model process's call) at most. Each batch costs two short
    # transactions and a hand-over, ~25 ms of a model process on PostgreSQL with both cores busy:
    # ~6% of YOLOv8n-320's time at 32 images, ~20% at 8 (the jobs bench's 1,000-image job ran
    # 12% faster at 32 than at 8, side by side). A small job is cut finer
    # (`jobs.executors.batches`), a crashed batch is retried image by image, and a cancel takes
    # effect between batches.
    job_batch_size: int = Field(default=32, ge=1, le=256)
    task_max_attempts: int = Field(default=3, ge=1, le=20)
    # Seconds before a failed batch's second try; doubled for each try after that.
    task_retry_backoff_s: float = Field(default=1.0, ge=0)
    # While the database is unreachable a batch waits (backoff capped here) instead of using up
    # its tries.
    task_outage_backoff_max_s: float = Field(default=5.0, gt=0)
    # A running task's lease, renewed by its worker every third of it; the sweeper re-queues a
    # task whose lease ran out (its worker or its database vanished mid-batch).
    task_lease_s: float = Field(default=30.0, ge=1)
    # Every API process runs the dispatcher: every `dispatch_interval_s` it re-queues expired
    # leases and publishes tasks nobody published (the broker was down, the API died between
    # commit and publish), leaving jobs younger than `dispatch_grace_s` to their own request.
    dispatch_interval_s: float = Field(default=2.0, gt=0)
    dispatch_grace_s: float = Field(default=10.0, ge=0)
    callback_timeout_s: float = Field(default=10.0, gt=0)
    callback_max_attempts: int = Field(default=4, ge=1, le=10)
    callback_backoff_s: float = Field(default=1.0, ge=0)
    # Hosts or networks that user-supplied URLs (callbacks, S3 import endpoints) may reach although
    # they are private or loopback; the old name LABELBAY_CALLBACK_ALLOWLIST works too.
    outbound_allowlist: list[str] = Field(
        default_factory=list,
        validation_alias=AliasChoices(
            "LABELBAY_OUTBOUND_ALLOWLIST",
            "LABELBAY_CALLBACK_ALLOWLIST",
            "outbound_allowlist",
            "callback_allowlist",
        ),
    )

    # The old services' HTTP contracts (`POST /upload`, `POST /api/v1/predict`, `POST /images/`):
    # the project their images go to, and the models they run. Unset detect/classify models fall
    # back to the project's default model / the registry's active classification model.
    legacy_project_id: int | None = None
    legacy_detect_model: str | None = None
    legacy_classify_model: str | None = None
    legacy_circles_model: str = "circles"

    page_size_default: int = Field(default=50, ge=1)
    # How long the review queue holds an image for a reviewer before it returns to the queue.
    review_lease_seconds: int = Field(default=600, ge=1, le=24 * 3600)
    page_size_max: int = Field(default=500, ge=1)

    # ML analyses posted back by external pipelines. The old deployments' names (no prefix) work too.
    ml_analysis_enabled: bool = Field(default=False, validation_alias=_ml_env("ANALYSIS_ENABLED"))
    ml_callback_hmac_secret: SecretStr | None = Field(
        default=None, validation_alias=_ml_env("CALLBACK_HMAC_SECRET")
    )
    ml_allowed_models: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_ml_env("ALLOWED_MODELS")
    )
    ml_signature_window_seconds: int = Field(
        default=300, ge=1, le=3600, validation_alias=_ml_env("SIGNATURE_WINDOW_SECONDS")
    )
    ml_max_request_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, validation_alias=_ml_env("MAX_REQUEST_BYTES")
    )
    ml_max_annotations_per_request: int = Field(
        default=1000, ge=1, validation_alias=_ml_env("MAX_ANNOTATIONS_PER_REQUEST")
    )
    ml_max_artifact_bytes: int = Field(
        default=50 * 1024 * 1024, ge=1, validation_alias=_ml_env("MAX_ARTIFACT_BYTES")
    )
    ml_max_artifact_filename_length: int = Field(
        default=128, ge=8, le=255, validation_alias=_ml_env("MAX_ARTIFACT_FILENAME_LENGTH")
    )

    @field_validator("ml_allowed_models", "model_plugins", mode="before")
    @classmethod
    def _split_models(cls, value: Any) -> Any:
        """A list from the environment: "a, b" or a JSON array."""
        if isinstance(value, str) and value.lstrip().startswith("["):
            return json.loads(value)
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @model_validator(mode="after")
    def _refuse_default_secret_outside_development(self) -> Settings:
        if self.environment == "production" and (
            self.secret_key.get_secret_value() == DEV_SECRET_KEY
            or len(self.secret_key.get_secret_value()) < 32
        ):
            raise ValueError(
                "LABELBAY_SECRET_KEY must be set to a random value of at least 32 characters "
                "when LABELBAY_ENVIRONMENT=production"
            )
        return self

    @model_validator(mode="after")
    def _require_ml_secret_when_enabled(self) -> Settings:
        secret = self.ml_callback_hmac_secret
        if self.ml_analysis_enabled and (secret is None or not secret.get_secret_value()):
            raise ValueError("ML_CALLBACK_HMAC_SECRET must be set when ML_ANALYSIS_ENABLED is true")
        return self

    @property
    def callback_allowlist(self) -> list[str]:
        return self.outbound_allowlist

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def storage_overrides(self) -> dict[str, str | None]:
        return {
            "input": self.storage_input_url,
            "output": self.storage_output_url,
            "nolabel": self.storage_nolabel_url,
            "models": self.storage_models_url,
            "artifacts": self.storage_artifacts_url,
        }

    def runtime_options(self) -> dict[str, Any]:
        """How models run here; merged under each model's own options."""
        return {"intra_op_threads": self.onnx_intra_op_threads, "providers": self.onnx_providers}

    def public_view(self) -> dict[str, Any]:
        """Settings that are safe to show: no secrets, no credentials inside URLs."""
        data = self.model_dump(
            exclude={
                "secret_key",
                "s3_access_key_id",
                "s3_secret_access_key",
                "ml_callback_hmac_secret",
                "legacy_callback_secret",
            }
        )
        for key in ("database_url", "rate_limit_storage_url", "broker_url"):
            data[key] = redact_url(data[key])
        return data


def redact_url(url: str) -> str:
    """Hide a password embedded in a URL (`scheme://user:pass@host` → `scheme://user:***@host`)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    userinfo, _, host = rest.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
