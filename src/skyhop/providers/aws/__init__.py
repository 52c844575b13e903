"""Amazon EC2 (boto3). Nothing is imported here: boto3 loads only inside the functions that call AWS."""
