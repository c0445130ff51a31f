"""A person's data is theirs: what Coursebot keeps about someone, a copy of all of it, and erasing it; purging a
server that removed the bot; and deleting what outlived its retention. docs/privacy.md is the policy this enforces.

Which module holds what:

- `registry`: every column that can hold a person's Discord id (`PERSON_COLUMNS`) and what erasure does to it
  (`Treatment`); `person_columns()` derives the same set from the models, so a new table cannot be forgotten.
- `kinds`: the kinds of data `/profile data` shows and the export names (`KINDS`), and how long each is kept.
- `export`: the inventory of a person's data and its JSON export (`ExportTooSoon` limits how often).
- `batches`: changing many rows a short transaction at a time, for the three below.
- `erasure`: erasing a person, the tombstone that says one is due, and finishing an interrupted one.
- `servers`: scheduling, cancelling and running the purge of a server that removed the bot.
- `retention`: deleting what outlived its retention.
- `maintenance`: the scheduled run of purges, unfinished erasures and retention, one process at a time.

Two unit-of-work conventions (docs/architecture.md). Reads and small writes (`inventory`, `export_data`, guild
removal bookkeeping) take an `AsyncSession` and never commit. Erasure, guild purges and retention take the
`Database` and commit batch by batch (`batches` says why), every step idempotent, so a run interrupted anywhere is
finished by the next one (an erasure's tombstone says one is due).
"""

from bot.services.privacy.erasure import Erasure, erase_user, erased_ids, rows_naming
from bot.services.privacy.export import ExportTooSoon, Holding, export_data, inventory
from bot.services.privacy.kinds import KINDS, Kind, Retention
from bot.services.privacy.maintenance import Maintenance, maintain
from bot.services.privacy.registry import PERSON_COLUMNS, Treatment, person_columns
from bot.services.privacy.retention import enforce_retention
from bot.services.privacy.servers import cancel_guild_purge, purge_guild, reconcile_guilds, schedule_guild_purge

__all__ = [
    "KINDS",
    "PERSON_COLUMNS",
    "Erasure",
    "ExportTooSoon",
    "Holding",
    "Kind",
    "Maintenance",
    "Retention",
    "Treatment",
    "cancel_guild_purge",
    "enforce_retention",
    "erase_user",
    "erased_ids",
    "export_data",
    "inventory",
    "maintain",
    "person_columns",
    "purge_guild",
    "reconcile_guilds",
    "rows_naming",
    "schedule_guild_purge",
]
