-- Placeholder: this number is another change's; nothing to apply here.
SELECT 1;
