"""The AI tutor: what answers students in their tutor threads, and what it answers from.

Unit of work. The tutor takes the `Database` and owns its units of work; it does not follow the services'
convention (`bot.services`: take the caller's `AsyncSession`, never commit), because a model call can take
seconds and a transaction must never stay open across one. So `tutor.Tutor`, `materials.ingest`,
`materials.index_lesson`, `materials.upload_material`, `materials.index_published_lessons` and
`sessions.end_idle_sessions` read in one scope, close it, call the model (or extract and embed), then write in a
new scope. The functions they call inside a scope are services like any other: an `AsyncSession` in, no commit.

Names. `session` is always an `AsyncSession`, as everywhere in the project. A tutor session (one student's
conversation in one thread) is a `sessions.TutorSession`, named `tutor_session`; its ORM row is a `ChatSession`
(`row`, or `tutor_session_row` beside the value); `session_id` is a tutor session's id, as the column
`chat_messages.session_id` names it.

Modules:

- `tutor`: the facade the cog calls (`Tutor`) and its pipeline; `turn`: one answer in the making (`Turn`);
  `answers`: the prompt in, the answer out (`Answer`, `Source`, branches, citations, the text without a model);
- `sessions`: tutor sessions, their messages, limits and thread lookups; `quiz_guard`: what of an open quiz
  stays out of prompts; `cache`: the response cache tree;
- `materials`, `chunking`, `retrieval`: what the tutor cites; `prompts`: versioned system prompts;
- `backends`, `secrets`, `llm`, `errors`: which model is used and how it is called; `guardrails`: input limits and
  the fence around retrieved text.
"""
