"""Wrong and alternative solutions to every exercise, one module per lab (``lab<lab name>.py``).

Each module defines ``MUTANTS``: solution grade_id -> {"wrong": [(mistake, source), ...],
"alternative": source}. tests/test_exercise_mutants.py grades them through the real grader.
"""
