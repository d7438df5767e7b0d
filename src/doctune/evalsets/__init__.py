"""The evalsets stage: rephrased questions and checked multiple-choice quizzes."""
