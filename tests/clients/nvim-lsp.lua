-- Drives Neovim's built-in LSP client (0.7 and later) against `starling lsp`, for
-- tests/it/lsp.rs: opens a Markdown script, waits for diagnostics, types a line, applies the
-- "Remove" quick fix through vim.lsp.buf.code_action, and writes what it saw as JSON.
-- Environment: STARLING_LSP_BIN, STARLING_LSP_FILE, STARLING_LSP_OUT.
local bin = os.getenv('STARLING_LSP_BIN')
local file = os.getenv('STARLING_LSP_FILE')
local out = os.getenv('STARLING_LSP_OUT')
local result = { steps = {} }

local function finish()
  local f = assert(io.open(out, 'w'))
  f:write(vim.fn.json_encode(result))
  f:close()
  vim.cmd('qa!')
end

local ok, err = pcall(function()
  vim.cmd('edit ' .. vim.fn.fnameescape(file))
  local buf = vim.api.nvim_get_current_buf()
  local client_id = vim.lsp.start_client({
    name = 'starling',
    cmd = { bin, 'lsp', '--stdio' },
    root_dir = vim.fn.fnamemodify(file, ':h'),
    init_options = { model = false, debounceMs = 50 },
  })
  assert(client_id, 'the client did not start')
  vim.lsp.buf_attach_client(buf, client_id)
  result.steps.diagnostics = vim.wait(120000, function() return #vim.diagnostic.get(buf) > 0 end, 50)
  result.diagnostics = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    local code = d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code)
    table.insert(result.diagnostics, {
      code = code, lnum = d.lnum, col = d.col, end_lnum = d.end_lnum, end_col = d.end_col,
      severity = d.severity, message = d.message,
    })
  end
  result.offset_encoding = vim.lsp.get_client_by_id(client_id).offset_encoding

  -- Type a new last line; the server hears it as an incremental change.
  local last = vim.api.nvim_buf_line_count(buf)
  vim.api.nvim_buf_set_lines(buf, last, last, false, { '', 'Hopefully the fix lands soon.' })
  local line = last + 1 -- 0-based index of the new line
  result.steps.new_diagnostic = vim.wait(60000, function()
    for _, d in ipairs(vim.diagnostic.get(buf, { lnum = line })) do
      if d.col == 0 then return true end
    end
    return false
  end, 50)

  -- The quick fix, chosen the way a user picks from the menu.
  vim.ui.select = function(items, opts, on_choice)
    result.titles = {}
    for _, item in ipairs(items) do table.insert(result.titles, (opts.format_item(item))) end
    for i, item in ipairs(items) do
      if (opts.format_item(item)):find('^Remove') then return on_choice(item, i) end
    end
    on_choice(nil, nil)
  end
  vim.api.nvim_win_set_cursor(0, { line + 1, 2 })
  vim.lsp.buf.code_action()
  result.steps.fixed = vim.wait(30000, function()
    return vim.api.nvim_buf_get_lines(buf, line, line + 1, false)[1] == 'The fix lands soon.'
  end, 50)
  result.fixed_line = vim.api.nvim_buf_get_lines(buf, line, line + 1, false)[1]
  -- ... and the diagnostic on it goes away.
  result.steps.cleared = vim.wait(30000, function()
    return #vim.diagnostic.get(buf, { lnum = line }) == 0
  end, 50)

  vim.lsp.stop_client(client_id)
  result.steps.stopped = vim.wait(10000, function() return vim.lsp.client_is_stopped(client_id) end, 50)
end)
if not ok then result.error = tostring(err) end
finish()
