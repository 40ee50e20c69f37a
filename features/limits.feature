Feature: Hard limits on time, memory and size
  Untrusted code cannot hold a worker, take all memory, or upload anything too big.

  Scenario: A guest that loops forever is stopped at its deadline
    Given Wess runs with a call deadline of 1000 ms
    And I have uploaded the "loop-forever" module as "spinner"
    And I have uploaded the "add" module as "calc"
    When I call "spin" on "spinner" while 50 other calls to "add" on "calc" run
    Then the answer is 408
    And the error code is "EXECUTION_TIMEOUT"
    And the error message mentions "did not finish within 1000 ms; the guest was stopped"
    And 1 worker was replaced after a timeout and the pool is whole
    When I call "add" on "calc" with [2, 3]
    Then the results are [5]

  Scenario: Memory growth stops at the cap
    Given Wess runs with a memory cap of 8 pages
    And I have uploaded the "grow-loop" module as "hungry"
    When I call "grow_all" on "hungry" with []
    Then the results are [8]

  Scenario: A module asking for more memory than allowed is refused
    When I upload the "big-memory" module as "greedy"
    Then the answer is 400
    And the error code is "MEMORY_LIMIT"

  Scenario: A deep recursion traps instead of crashing
    Given I have uploaded the "stack-overflow" module as "deep"
    When I call "recurse" on "deep" with [0]
    Then the answer is 422
    And the error code is "WASM_TRAP"

  Scenario: A module over 2 MiB is refused
    When I upload 2097153 bytes of zeros as "huge"
    Then the answer is 413
    And the error code is "PAYLOAD_TOO_LARGE"

  Scenario: Too many requests
    Given Wess allows 2 requests per minute
    When I send 3 requests to list the modules
    Then the answer is 429
    And the error code is "RATE_LIMITED"
    And the answer says to retry later
