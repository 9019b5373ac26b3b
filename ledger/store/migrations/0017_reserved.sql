-- Reserved: this number belongs to a change made alongside this one, merged separately.
SELECT 1;
