"""Evaluation room: next-base metrics by region with bootstrap CIs (nextbase), bootstrap helpers, and the
leaderboard that every task and engine joins. Evaluation reads only dataset and prediction files; it never knows
which engine wrote a prediction."""
