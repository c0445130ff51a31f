"""The application core's services: one module per capability (enrollment, navigation, quizzes, xp, streaks, …).

Unit of work. A service takes the caller's `AsyncSession` (named `session`) and never commits. The caller opens
`async with database.session_scope() as session:`, which commits when the block ends and rolls back when it
raises, so two service calls in one scope succeed or fail together. The tutor is the one exception, and its
package docstring (`bot.tutor`) says why.
"""
