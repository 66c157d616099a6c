"""threads, thread references and knowledge entries (issue: knowledge)

Revision ID: 0002_knowledge
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_knowledge"
down_revision = "0001_core"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)

# PostgreSQL: the tsvector is generated from the segmented columns, so it can never drift.
_PG_TSV = (
    "ALTER TABLE kb_docs ADD COLUMN tsv tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('simple', coalesce(title_seg, '')), 'A') || "
    "setweight(to_tsvector('simple', coalesce(answer_seg, '')), 'B') || "
    "setweight(to_tsvector('simple', coalesce(body_seg, '')), 'D')) STORED"
)
# SQLite: an external-content FTS5 table kept in step by triggers (same transaction as the write).
_SQLITE_FTS = [
    "CREATE VIRTUAL TABLE kb_fts USING fts5(title_seg, answer_seg, body_seg, "
    "content='kb_docs', content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER kb_docs_ai AFTER INSERT ON kb_docs BEGIN "
    "INSERT INTO kb_fts(rowid, title_seg, answer_seg, body_seg) "
    "VALUES (new.id, new.title_seg, new.answer_seg, new.body_seg); END",
    "CREATE TRIGGER kb_docs_ad AFTER DELETE ON kb_docs BEGIN "
    "INSERT INTO kb_fts(kb_fts, rowid, title_seg, answer_seg, body_seg) "
    "VALUES ('delete', old.id, old.title_seg, old.answer_seg, old.body_seg); END",
    "CREATE TRIGGER kb_docs_au AFTER UPDATE ON kb_docs BEGIN "
    "INSERT INTO kb_fts(kb_fts, rowid, title_seg, answer_seg, body_seg) "
    "VALUES ('delete', old.id, old.title_seg, old.answer_seg, old.body_seg); "
    "INSERT INTO kb_fts(rowid, title_seg, answer_seg, body_seg) "
    "VALUES (new.id, new.title_seg, new.answer_seg, new.body_seg); END",
]


def upgrade() -> None:
    op.create_table(
        "threads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("question_text", sa.Text(), nullable=False),
        sa.Column("question_message_pk", sa.Integer(), nullable=True),
        sa.Column("root_message_id", sa.String(length=998), nullable=False),
        sa.Column("asker_member_id", sa.Integer(), nullable=True),
        sa.Column("asker_email", sa.String(length=320), nullable=False),
        sa.Column("asker_name", sa.String(length=300), nullable=False),
        sa.Column("answer_count", sa.Integer(), nullable=False),
        sa.Column("accepted_answer_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("solved_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(["community_id"], ["communities.id"]),
        sa.ForeignKeyConstraint(["question_message_pk"], ["messages.id"]),
        sa.ForeignKeyConstraint(["asker_member_id"], ["members.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("community_id", "number", name="uq_threads_community_number"),
    )
    with op.batch_alter_table("threads") as batch_op:
        batch_op.create_index("ix_threads_community_status", ["community_id", "status"], unique=False)

    op.create_table(
        "thread_refs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=False),
        sa.Column("parent_id", sa.String(length=998), nullable=True),
        sa.Column("thread_id", sa.Integer(), nullable=True),
        sa.Column("seen", sa.Boolean(), nullable=False),
        sa.Column("message_pk", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["community_id"], ["communities.id"]),
        sa.ForeignKeyConstraint(["thread_id"], ["threads.id"]),
        sa.ForeignKeyConstraint(["message_pk"], ["messages.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("community_id", "message_id", name="uq_thread_refs_community_msgid"),
    )
    with op.batch_alter_table("thread_refs") as batch_op:
        batch_op.create_index("ix_thread_refs_parent", ["community_id", "parent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_thread_refs_thread_id"), ["thread_id"], unique=False)

    op.create_table(
        "answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("message_pk", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.String(length=998), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("author_email", sa.String(length=320), nullable=False),
        sa.Column("author_name", sa.String(length=300), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("helpful", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["thread_id"], ["threads.id"]),
        sa.ForeignKeyConstraint(["message_pk"], ["messages.id"]),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("thread_id", "number", name="uq_answers_thread_number"),
    )
    with op.batch_alter_table("answers") as batch_op:
        batch_op.create_index(batch_op.f("ix_answers_thread_id"), ["thread_id"], unique=False)

    op.create_table(
        "kb_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("helpful_json", sa.Text(), nullable=False),
        sa.Column("contributors_json", sa.Text(), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("filed_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["communities.id"]),
        sa.ForeignKeyConstraint(["thread_id"], ["threads.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("community_id", "number", name="uq_kb_entries_community_number"),
    )
    with op.batch_alter_table("kb_entries") as batch_op:
        batch_op.create_index("ix_kb_entries_thread", ["thread_id"], unique=False)

    op.create_table(
        "kb_docs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("ref_id", sa.Integer(), nullable=False),
        sa.Column("solved", sa.Boolean(), nullable=False),
        sa.Column("visible", sa.Boolean(), nullable=False),
        sa.Column("title_seg", sa.Text(), nullable=False),
        sa.Column("answer_seg", sa.Text(), nullable=False),
        sa.Column("body_seg", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["communities.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "ref_id", name="uq_kb_docs_kind_ref"),
    )
    with op.batch_alter_table("kb_docs") as batch_op:
        batch_op.create_index("ix_kb_docs_community", ["community_id", "visible"], unique=False)

    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(_PG_TSV)
        op.execute("CREATE INDEX ix_kb_docs_tsv ON kb_docs USING GIN (tsv)")
    elif dialect == "sqlite":
        for statement in _SQLITE_FTS:
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in ("kb_docs_ai", "kb_docs_ad", "kb_docs_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS kb_fts")
    op.drop_table("kb_docs")
    op.drop_table("kb_entries")
    op.drop_table("answers")
    op.drop_table("thread_refs")
    op.drop_table("threads")
