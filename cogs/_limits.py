"""Discord's limits: every one the bot keeps to, defined here and nowhere else.

Only Discord's own numbers belong here. How much of a limit a page or a field chooses to fill (a lesson page
leaves room for its objectives, a list shows the start of each description) is decided where it is rendered.
"""

from __future__ import annotations

# Messages and embeds (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
MESSAGE_MAX = 2000
EMBED_TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4096
EMBED_FIELDS_MAX = 25
EMBED_FIELD_NAME_MAX = 256
EMBED_FIELD_VALUE_MAX = 1024
EMBED_TOTAL_MAX = 6000

# Components (https://discord.com/developers/docs/components/reference).
BUTTON_LABEL_MAX = 80
BUTTONS_PER_ROW = 5
CUSTOM_ID_MAX = 100
MODAL_TITLE_MAX = 45
TEXT_INPUT_MAX = 4000

# Slash command options and autocomplete
# (https://discord.com/developers/docs/interactions/application-commands#application-command-object).
AUTOCOMPLETE_CHOICES_MAX = 25
CHOICE_NAME_MAX = 100
STRING_OPTION_MAX = 6000
NUMBER_OPTION_MAX = 2**53  # the magnitude an integer or number option may reach

# Channels (https://discord.com/developers/docs/resources/channel#channel-object).
THREAD_NAME_MAX = 100
