-- `{"attempt":n, ...data}` as text.
local function withAttempt(dataJson, attempt)
  local head = '{"attempt":' .. attempt
  if dataJson == '{}' then return head .. '}' end
  return head .. ',' .. string.sub(dataJson, 2)
end
