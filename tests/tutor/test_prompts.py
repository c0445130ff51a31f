"""Prompts: versions per name, labels that move, composition with depth and cycle checks."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.errors import InvalidInput
from bot.services import audit
from bot.tutor import prompts
from bot.tutor.prompts import PromptCompositionError, PromptNotFound
from db.models import PromptDependency, PromptLabel
from db.session import Database
from tests.tutor.conftest import GUILD, INSTRUCTOR


def ref(name: str, label: str = "production") -> str:
    return f"@@@prompt:name={name}|label={label}@@@"


async def test_the_shipped_tutor_prompt_is_production_and_latest(database: Database) -> None:
    async with database.session_scope() as session:
        shipped = await prompts.resolve(session, name=prompts.TUTOR_SYSTEM_PROMPT)
    assert (shipped.version, shipped.labels) == (1, ("latest", "production"))
    assert "cite" in shipped.text and shipped.created_by is None
    assert shipped.config == {"temperature": 0.3, "max_tokens": 800}


async def test_versions_count_up_per_name_and_latest_follows_the_newest(database: Database) -> None:
    async with database.session_scope() as session:
        first = await prompts.create_version(session, name="greeting", text="Hello.", labels=["production"])
        second = await prompts.create_version(session, name="greeting", text="Hi there.")
        other = await prompts.create_version(session, name="farewell", text="Bye.")
    assert (first.version, second.version, other.version) == (1, 2, 1)
    async with database.session_scope() as session:
        assert (await prompts.resolve(session, name="greeting", label="latest")).text == "Hi there."
        assert (await prompts.resolve(session, name="greeting")).text == "Hello."  # production stays
        assert (await prompts.resolve(session, name="greeting", version=1)).labels == ("production",)
        assert [v.version for v in await prompts.list_versions(session, name="greeting")] == [2, 1]


async def test_a_label_moves_to_the_version_it_is_set_on(database: Database) -> None:
    async with database.session_scope() as session:
        await prompts.create_version(session, name="greeting", text="v1", labels=["production"])
        await prompts.create_version(session, name="greeting", text="v2")
        moved = await prompts.set_label(
            session, name="greeting", version=2, label="production", actor_id=INSTRUCTOR, guild_id=GUILD
        )
    assert moved.labels == ("latest", "production")
    async with database.session_scope() as session:
        assert (await prompts.resolve(session, name="greeting")).version == 2
        assert (await prompts.resolve(session, name="greeting", version=1)).labels == ()
        assert (
            await session.scalar(select(func.count()).select_from(PromptLabel).where(PromptLabel.name == "greeting"))
            == 2
        )
        [entry] = await audit.recent(session, guild_id=GUILD, action="prompt.label")
    assert entry.meta == {"name": "greeting", "version": 2, "label": "production", "previous_version": 1}


async def test_latest_cannot_be_set_by_hand_and_labels_are_checked(database: Database) -> None:
    async with database.session_scope() as session:
        await prompts.create_version(session, name="greeting", text="v1")
        with pytest.raises(InvalidInput, match="newest"):
            await prompts.set_label(session, name="greeting", version=1, label="latest")
        with pytest.raises(InvalidInput, match="label"):
            await prompts.set_label(session, name="greeting", version=1, label="Not A Label")
        with pytest.raises(PromptNotFound, match="version 9"):
            await prompts.set_label(session, name="greeting", version=9, label="staging")


async def test_resolving_an_unknown_label_names_what_was_asked(database: Database) -> None:
    async with database.session_scope() as session:
        await prompts.create_version(session, name="greeting", text="v1")
        with pytest.raises(PromptNotFound, match="`greeting` with the label `production`"):
            await prompts.resolve(session, name="greeting")


async def test_references_compose_recursively_and_are_recorded(database: Database) -> None:
    async with database.session_scope() as session:
        await prompts.create_version(session, name="tone", text="Be kind.", labels=["production"])
        await prompts.create_version(
            session, name="rules", text=f"Rules: {ref('tone')} Cite sources.", labels=["production"]
        )
        root = await prompts.create_version(
            session, name="tutor", text=f"You are a tutor.\n{ref('rules')}\n@@@prompt:name=tone|version=1@@@"
        )
        composed = await prompts.compose(session, root)
        dependencies = (
            await session.execute(
                select(PromptDependency.child_name, PromptDependency.child_label, PromptDependency.child_version).where(
                    PromptDependency.parent_id == root.id
                )
            )
        ).all()
    assert composed == "You are a tutor.\nRules: Be kind. Cite sources.\nBe kind."
    assert sorted(dependencies, key=str) == sorted([("rules", "production", None), ("tone", None, 1)], key=str)


async def test_composition_follows_labels_as_they_move(database: Database) -> None:
    async with database.session_scope() as session:
        await prompts.create_version(session, name="tone", text="Be kind.", labels=["production"])
        root = await prompts.create_version(session, name="tutor", text=ref("tone"))
        await prompts.create_version(session, name="tone", text="Be brief.")
        assert await prompts.compose(session, root) == "Be kind."
        await prompts.set_label(session, name="tone", version=2, label="production")
        assert await prompts.compose(session, root) == "Be brief."


async def test_a_reference_to_a_missing_prompt_is_refused_and_nothing_is_stored(database: Database) -> None:
    async with database.session_scope() as session:
        with pytest.raises(PromptCompositionError, match="does not exist"):
            await prompts.create_version(session, name="tutor", text=ref("nowhere"))
        with pytest.raises(InvalidInput, match="not closed"):
            await prompts.create_version(session, name="tutor", text="@@@prompt:name=x|label=y")
        with pytest.raises(InvalidInput, match="not a prompt reference"):
            await prompts.create_version(session, name="tutor", text="@@@prompt:name=x@@@")
        assert await prompts.list_versions(session, name="tutor") == []


async def test_nesting_deeper_than_five_levels_is_refused(database: Database) -> None:
    async with database.session_scope() as session:
        await prompts.create_version(session, name="p0", text="base", labels=["production"])
        for level in range(1, 6):
            await prompts.create_version(
                session, name=f"p{level}", text=f"{level} {ref(f'p{level - 1}')}", labels=["production"]
            )
        five_deep = await prompts.resolve(session, name="p5")
        assert await prompts.compose(session, five_deep) == "5 4 3 2 1 base"
        with pytest.raises(PromptCompositionError, match="at most 5 levels"):
            await prompts.create_version(session, name="p6", text=ref("p5"))
        assert await prompts.list_versions(session, name="p6") == []


async def test_a_new_version_that_would_make_an_including_prompt_too_deep_is_refused(database: Database) -> None:
    async with database.session_scope() as session:
        await prompts.create_version(session, name="p0", text="base", labels=["production"])
        for level in range(1, 6):
            await prompts.create_version(session, name=f"p{level}", text=ref(f"p{level - 1}"), labels=["production"])
        await prompts.create_version(session, name="extra", text="deep", labels=["production"])
        with pytest.raises(PromptCompositionError, match="at most 5 levels"):
            await prompts.create_version(session, name="p0", text=ref("extra"), labels=["production"])
        assert [v.version for v in await prompts.list_versions(session, name="p0")] == [1]
        assert (await prompts.resolve(session, name="p0", label="latest")).version == 1


async def test_cycles_are_refused_at_creation(database: Database) -> None:
    async with database.session_scope() as session:
        with pytest.raises(PromptCompositionError, match="include themselves: a → a"):
            await prompts.create_version(session, name="a", text=ref("a", "latest"))
        await prompts.create_version(session, name="a", text="plain a", labels=["production"])
        await prompts.create_version(session, name="b", text=ref("a"), labels=["production"])
        with pytest.raises(PromptCompositionError, match="include themselves: a → b → a"):
            await prompts.create_version(session, name="a", text=ref("b"), labels=["production"])
        assert (await prompts.resolve(session, name="a")).text == "plain a"


async def test_a_label_move_that_would_close_a_cycle_is_refused(database: Database) -> None:
    async with database.session_scope() as session:
        await prompts.create_version(session, name="a", text="plain a", labels=["production"])
        await prompts.create_version(session, name="b", text=ref("a"), labels=["production"])
        await prompts.create_version(session, name="b", text="plain b", labels=["staging"])
        # Version 2 of `a` includes `b` by its staging label: fine while that is the plain version...
        await prompts.create_version(session, name="a", text=ref("b", "staging"))
        # ...but `b` v1 includes `a`, so labelling it staging would close a cycle.
        with pytest.raises(PromptCompositionError, match="include themselves"):
            await prompts.set_label(session, name="b", version=1, label="staging")
        assert (await prompts.resolve(session, name="b", label="staging")).version == 2


async def test_creating_a_version_with_an_actor_is_audited(database: Database) -> None:
    async with database.session_scope() as session:
        created = await prompts.create_version(
            session, name="greeting", text="Hello.", labels=["production"], actor_id=INSTRUCTOR, guild_id=GUILD
        )
        [entry] = await audit.recent(session, guild_id=GUILD, action="prompt.create")
    assert entry.actor_id == INSTRUCTOR and entry.target_ids == [created.id]
    assert entry.meta == {"name": "greeting", "version": 1, "labels": ["latest", "production"]}


async def test_a_prompt_that_would_compose_past_the_cap_is_refused_at_save_time(database: Database) -> None:
    async with database.session_scope() as session:
        await prompts.create_version(session, name="chapter", text="x" * 4000, labels=["production"])
        book = await prompts.create_version(session, name="book", text=ref("chapter") * 10, labels=["production"])
        assert len(await prompts.compose(session, book)) == 40_000
        # 190 references to a 40,000-character prompt: 7.6 million characters, refused before being built.
        with pytest.raises(PromptCompositionError, match=r"`library` would compose to 7,600,000 characters.*50,000"):
            await prompts.create_version(session, name="library", text=ref("book") * 190)
        assert await prompts.list_versions(session, name="library") == []


async def test_a_label_move_that_would_make_an_including_prompt_too_big_is_refused(database: Database) -> None:
    async with database.session_scope() as session:
        await prompts.create_version(session, name="chapter", text="short", labels=["production"])
        await prompts.create_version(session, name="book", text=ref("chapter") * 12, labels=["production"])
        await prompts.create_version(session, name="chapter", text="x" * 4500)
        with pytest.raises(PromptCompositionError, match=r"`book` would compose to 54,000 characters"):
            await prompts.set_label(session, name="chapter", version=2, label="production")
        assert (await prompts.resolve(session, name="chapter")).version == 1
