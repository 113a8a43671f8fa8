DROP TABLE pairwise_subjects;
