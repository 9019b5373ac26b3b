-- Reserved: intentionally empty (a statement that does nothing: an empty one cannot be sent).
SELECT 1;
