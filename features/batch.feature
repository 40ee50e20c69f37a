Feature: Batch runs
  Many argument tuples in one request, each on a fresh instance; a failing tuple fails alone.

  Scenario: Add many pairs at once
    Given I have uploaded the "add" module as "calc"
    When I send "add" to "calc" as the batch [[1, 2], [3, 4], [5, 6]]
    Then the batch answers [3], [7], [11]

  Scenario: One tuple traps, the others answer
    Given I have uploaded the "trap" module as "traps"
    When I send "div" to "traps" as the batch [[8, 2], [1, 0], [9, 3]]
    Then the batch answers [4], WASM_TRAP, [3]

  Scenario: Every answer says what the call did
    Given I have uploaded the "grow-memory" module as "grower"
    When I call "grow" on "grower" with [2]
    Then the results are [1]
    And the stats say memory_pages is 3 and version is 1
