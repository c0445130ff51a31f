"""Class analytics for staff: daily snapshots, the `/teach analytics` overview and its charts, quiz item analysis,
students at risk, the gradebook, tutor insight and the weekly digest. docs/analytics.md defines every figure."""
