Feature: Metrics and health for operators

  Scenario: Calls and errors show up in Prometheus metrics
    Given I have uploaded the "add" module as "calc"
    When I call "add" on "calc" with [1, 2]
    And I call "nope" on "calc" with []
    And I scrape the metrics
    Then the answer is 200
    And the metrics include "wess_requests_total"
    And the metrics include "wess_errors_total{code=\"UNKNOWN_FUNCTION\"} 1"
    And the metrics include "wess_execution_time_bucket"
    And the metrics include "wess_compiles_total 1"

  Scenario: A running service is ready
    When I ask whether Wess is ready
    Then the answer is 200
