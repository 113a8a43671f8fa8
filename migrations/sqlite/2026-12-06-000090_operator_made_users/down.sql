ALTER TABLE users DROP COLUMN made_by_operator;
