"""Profile queries. Keyword-only functions taking a Session; writers bump the model's version
in the caller's transaction (the caller commits)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from router.store.models import utcnow
from router.store.profile_models import GatewayMeta, ProfileRow, ProfileRowCreate, ProfileSummary, ProfileVersion


def bump_version(*, session: Session, model: str) -> int:
    """Increase ``model``'s profile version (creating it at 1); returns the new version."""
    row = session.get(ProfileVersion, model, with_for_update=True)
    if row is None:
        row = ProfileVersion(model=model, version=0)
    row.version += 1
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    return row.version


def add_rows(*, session: Session, rows: Sequence[ProfileRowCreate]) -> None:
    session.add_all(ProfileRow.model_validate(r) for r in rows)
    session.flush()


def delete_profile(*, session: Session, model: str) -> int:
    """Delete every row of ``model``; returns how many."""
    result = session.execute(delete(ProfileRow).where(col(ProfileRow.model) == model))
    return result.rowcount or 0


def delete_rows(*, session: Session, model: str, ids: Sequence[int]) -> int:
    result = session.execute(delete(ProfileRow).where(col(ProfileRow.model) == model, col(ProfileRow.id).in_(ids)))
    return result.rowcount or 0


def existing_row_ids(*, session: Session, model: str, ids: Sequence[int]) -> set[int]:
    stmt = select(ProfileRow.id).where(col(ProfileRow.model) == model, col(ProfileRow.id).in_(ids))
    return set(session.exec(stmt))


def list_rows(*, session: Session, model: str) -> list[ProfileRow]:
    """Every row of ``model``, oldest first."""
    return list(session.exec(select(ProfileRow).where(col(ProfileRow.model) == model).order_by(col(ProfileRow.id))))


def window(*, session: Session, model: str, size: int) -> list[ProfileRow]:
    """The active profile: the ``size`` most recent rows (uploads and feedback alike), oldest first."""
    stmt = (select(ProfileRow).where(col(ProfileRow.model) == model)
            .order_by(col(ProfileRow.id).desc()).limit(size))
    return list(reversed(session.exec(stmt).all()))


def versions(*, session: Session) -> dict[str, int]:
    return {v.model: v.version for v in session.exec(select(ProfileVersion))}


def get_feedback_row(*, session: Session, decision_id: str) -> ProfileRow | None:
    return session.exec(select(ProfileRow).where(col(ProfileRow.decision_id) == decision_id)).first()


def summaries(*, session: Session, window_sizes: dict[str, int]) -> list[ProfileSummary]:
    """Every model with rows or a version; active window per ``window_sizes`` (default 256)."""
    counts = {(m, s): n for m, s, n in session.exec(
        select(ProfileRow.model, ProfileRow.source, func.count()).group_by(ProfileRow.model, ProfileRow.source))}
    vers = {v.model: v for v in session.exec(select(ProfileVersion))}
    models = sorted({m for m, _ in counts} | set(vers))
    out = []
    for m in models:
        active = window(session=session, model=m, size=window_sizes.get(m, 256))
        uploads, feedback = counts.get((m, "upload"), 0), counts.get((m, "feedback"), 0)
        judge, shadow = counts.get((m, "judge"), 0), counts.get((m, "shadow"), 0)
        built = counts.get((m, "build"), 0)
        v = vers.get(m)
        out.append(ProfileSummary(
            model=m, rows=sum(n for (mm, _), n in counts.items() if mm == m), active_rows=len(active), version=v.version if v else 0,
            mean_score=round(sum(r.score for r in active) / len(active), 6) if active else None,
            last_update=v.updated_at if v else None, uploads=uploads, feedback=feedback,
            judge=judge, shadow=shadow, built=built))
    return out


def get_meta(*, session: Session, key: str) -> GatewayMeta | None:
    return session.get(GatewayMeta, key)


def set_meta(*, session: Session, key: str, value: str) -> None:
    session.add(GatewayMeta(key=key, value=value))
    session.flush()
