"""The report room: what the report says first (the summary written from the leaderboard's numbers), the browsable
leaderboard, the leakage figure across variants and the model table. It reads the evaluation's outputs and the
checkpoints' metadata files; it sits above the evaluation and never imports an engine."""
