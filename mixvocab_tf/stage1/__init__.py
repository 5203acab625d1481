"""Stage I: teach the teacher the student vocabulary (`teacher_training.train_teacher`)."""
