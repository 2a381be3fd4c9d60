-- The rows of the records and customers in scope (review.py): _review_pairs and _review_clusters are the whole
-- tables on a full build, the pairs touching the day's journalled records and the clusters of their customers otherwise.
WITH value AS (SELECT unique_id, activities, spend FROM identity.review_values),
decided AS (
    SELECT least(record_1, record_2) AS a, greatest(record_1, record_2) AS b FROM identity.steward_decisions
    WHERE decision IN ('must_link', 'cannot_link')
),
outweighed AS (
    SELECT least(unique_id_l, unique_id_r) AS a, greatest(unique_id_l, unique_id_r) AS b FROM identity.outweighed_pairs
),
pairs AS (
    SELECT CASE WHEN p.contrary_evidence THEN 'vetoed_pair' WHEN o.a IS NOT NULL THEN 'outweighed_pair'
                ELSE 'uncertain_pair' END AS item,
           p.unique_id_l, p.unique_id_r, p.match_probability,
           concat_ws(', ',
               CASE WHEN p.first_name_l = p.first_name_r THEN 'same first name' END,
               CASE WHEN p.last_name_l = p.last_name_r THEN 'same last name' END,
               CASE WHEN p.birth_date_l = p.birth_date_r THEN 'same birth date'
                    WHEN p.birth_date_l <> p.birth_date_r THEN 'different birth dates' END,
               CASE WHEN p.email_l = p.email_r THEN 'same e-mail' END,
               CASE WHEN p.mobile_l = p.mobile_r THEN 'same mobile' END,
               CASE WHEN p.landline_l = p.landline_r THEN 'same landline' END,
               CASE WHEN p.postcode_l = p.postcode_r THEN 'same postcode' END) AS evidence,
           concat_ws(' | ', left(p.first_name_l, 1) || '. ' || left(p.last_name_l, 1) || '.',
                     'born ' || left(p.birth_date_l, 4), '*@' || split_part(p.email_l, '@', 2), p.postcode_l) AS left_facts,
           concat_ws(' | ', left(p.first_name_r, 1) || '. ' || left(p.last_name_r, 1) || '.',
                     'born ' || left(p.birth_date_r, 4), '*@' || split_part(p.email_r, '@', 2), p.postcode_r) AS right_facts,
           -- the purge scrubs a pair's values and its queue row together: a pair with no value left shows what the
           -- purge leaves (no evidence, no facts), so the queue's scrubbed rows are as building them again gives
           coalesce(p.first_name_l, p.first_name_r, p.last_name_l, p.last_name_r, p.birth_date_l, p.birth_date_r,
                    p.email_l, p.email_r, p.mobile_l, p.mobile_r, p.landline_l, p.landline_r, p.postcode_l,
                    p.postcode_r) IS NULL AS purged
    FROM _review_pairs p
    LEFT JOIN decided d ON d.a = least(p.unique_id_l, p.unique_id_r) AND d.b = greatest(p.unique_id_l, p.unique_id_r)
    LEFT JOIN outweighed o ON o.a = least(p.unique_id_l, p.unique_id_r) AND o.b = greatest(p.unique_id_l, p.unique_id_r)
    WHERE d.a IS NULL
      AND ((p.match_probability >= $review_floor AND p.match_probability < $threshold)
           OR (p.match_probability >= $threshold AND (p.contrary_evidence OR o.a IS NOT NULL)))
),
cluster_links AS (
    SELECT c.cluster_key, count(*) AS links
    FROM identity.pairwise_predictions p
    JOIN _review_clusters c ON c.unique_id = p.unique_id_l
    JOIN _review_clusters c2 ON c2.unique_id = p.unique_id_r AND c2.cluster_key = c.cluster_key
    WHERE p.match_probability >= $threshold AND NOT p.contrary_evidence GROUP BY ALL
),
clusters AS (
    SELECT CASE WHEN c.cluster_size > $review_size THEN 'large_cluster' ELSE 'loose_cluster' END AS item,
           rc.customer_id, c.cluster_size,
           coalesce(l.links, 0) / (c.cluster_size * (c.cluster_size - 1) / 2) AS link_density,
           sum(coalesce(v.activities, 0)) AS activities, sum(coalesce(v.spend, 0)) AS spend
    FROM _review_clusters c
    JOIN identity.record_customer rc USING (unique_id)
    LEFT JOIN cluster_links l USING (cluster_key)
    LEFT JOIN value v USING (unique_id)
    GROUP BY ALL
    HAVING c.cluster_size > $review_size OR (c.cluster_size >= 3 AND link_density < 0.5)
)
SELECT item, NULL AS customer_id, unique_id_l, unique_id_r,
       coalesce(cl.customer_id = cr.customer_id, FALSE) AS same_customer,
       round(match_probability, 4) AS match_probability,
       NULL::INTEGER AS cluster_size, NULL::DOUBLE AS link_density, CASE WHEN NOT purged THEN evidence END AS evidence,
       CASE WHEN NOT purged THEN left_facts END AS left_facts, CASE WHEN NOT purged THEN right_facts END AS right_facts,
       coalesce(vl.activities, 0) + coalesce(vr.activities, 0) AS activities,
       round(coalesce(vl.spend, 0) + coalesce(vr.spend, 0), 2) AS spend,
       'customer360 explain --pair ' || unique_id_l || ' ' || unique_id_r AS command
FROM pairs
LEFT JOIN value vl ON vl.unique_id = pairs.unique_id_l
LEFT JOIN value vr ON vr.unique_id = pairs.unique_id_r
LEFT JOIN identity.record_customer cl ON cl.unique_id = pairs.unique_id_l
LEFT JOIN identity.record_customer cr ON cr.unique_id = pairs.unique_id_r
UNION ALL
SELECT item, customer_id, NULL, NULL, TRUE, NULL, cluster_size, round(link_density, 3), NULL, NULL, NULL,
       activities, round(spend, 2), 'customer360 explain ' || customer_id
FROM clusters
ORDER BY spend DESC, activities DESC, item, unique_id_l, customer_id
