"""Storage: SQLModel tables (models.py), engine (db.py), queries (crud.py), batched writer (writer.py)."""
