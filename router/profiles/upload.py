"""Profile uploads: JSONL (one ``{"prompt": str, "score": number}`` per line) or CSV (a header
with ``prompt`` and ``score`` columns). The whole file is validated before anything is
written; the first bad line is reported as ``line N: reason`` (400). Other keys/columns are
ignored, so a downloaded profile uploads again as it is. A prompt may appear once per upload
(average repeated grades of one prompt before uploading); a repeat is refused naming both lines.
Prompts follow the gateway's text rule (no NUL, no lone surrogate).
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from router.protocol import GatewayError, text_problem

UploadFormat = Literal["jsonl", "csv"]


class ProfileRowIn(BaseModel):
    """One uploaded row."""

    model_config = ConfigDict(extra="ignore", strict=True)
    prompt: str = Field(min_length=1)
    score: float = Field(ge=0, le=1, allow_inf_nan=False)

    @field_validator("prompt")
    @classmethod
    def _text(cls, prompt: str) -> str:
        if problem := text_problem(prompt):
            raise ValueError(f"text {problem}")
        return prompt


def upload_error(line: int | None, reason: str) -> GatewayError:
    where = f"line {line}: " if line is not None else ""
    return GatewayError(400, f"{where}{reason}", param="body", code="invalid_profile")


def guess_format(content_type: str | None, data: bytes) -> UploadFormat:
    ct = (content_type or "").split(";")[0].strip().lower()
    if ct in ("text/csv", "application/csv"):
        return "csv"
    if ct in ("application/jsonl", "application/x-ndjson", "application/x-jsonlines", "application/json"):
        return "jsonl"
    return "jsonl" if data.lstrip()[:1] == b"{" else "csv"


def parse_upload(data: bytes, *, fmt: UploadFormat, max_rows: int) -> list[ProfileRowIn]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise upload_error(text_line(data, exc.start), "not valid UTF-8") from exc
    numbered = _parse_csv(text) if fmt == "csv" else _parse_jsonl(text)
    if not numbered:
        raise upload_error(None, "the file has no rows")
    if len(numbered) > max_rows:
        raise GatewayError(413, f"line {max_rows + 1 + (fmt == 'csv')}: more than {max_rows} rows",
                           param="body", code="profile_too_large")
    first: dict[str, int] = {}
    for line, row in numbered:
        if (seen := first.setdefault(row.prompt, line)) != line:
            raise upload_error(line, f"prompt: the same prompt as line {seen} (one row per prompt; "
                                     "average repeated grades first)")
    return [row for _, row in numbered]


def text_line(data: bytes, offset: int) -> int:
    return data[:offset].count(b"\n") + 1


def _row(line: int, value: object) -> ProfileRowIn:
    if not isinstance(value, dict):
        raise upload_error(line, "expected an object with prompt and score")
    try:
        row = ProfileRowIn.model_validate(value)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "row"
        raise upload_error(line, f"{field}: {err['msg']}") from exc
    if not row.prompt.strip():
        raise upload_error(line, "prompt: is empty")
    return row


def _parse_jsonl(text: str) -> list[tuple[int, ProfileRowIn]]:
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise upload_error(n, f"malformed JSON: {exc.msg} (column {exc.colno})") from exc
        except RecursionError:
            raise upload_error(n, "JSON nested too deeply") from None
        rows.append((n, _row(n, value)))
    return rows


def _parse_csv(text: str) -> list[tuple[int, ProfileRowIn]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return []
    except csv.Error as exc:
        raise upload_error(1, f"malformed CSV: {exc}") from exc
    names = [h.strip() for h in header]
    for need in ("prompt", "score"):
        if need not in names:
            raise upload_error(1, f"the CSV header has no {need!r} column")
    ip, isc = names.index("prompt"), names.index("score")
    rows = []
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise upload_error(reader.line_num, f"malformed CSV: {exc}") from exc
        n = reader.line_num
        if not record or all(not f.strip() for f in record):
            continue
        if len(record) != len(names):
            raise upload_error(n, f"expected {len(names)} fields, got {len(record)}")
        try:
            score = float(record[isc])
        except ValueError:
            raise upload_error(n, f"score: {record[isc]!r} is not a number") from None
        if math.isnan(score):
            raise upload_error(n, "score: is NaN")
        rows.append((n, _row(n, {"prompt": record[ip], "score": score})))
    return rows
